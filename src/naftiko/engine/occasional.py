"""A failure that every request (or every export) meets, said at most once per interval with
how many times it happened since: an unreachable authorization server or collector must not
write a log line per event, which any caller could multiply."""

from __future__ import annotations

import time
from collections.abc import Callable

INTERVAL = 60.0  # seconds between two reports of the same failure


class Occasional:
    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic):
        self._interval = interval
        self._clock = clock
        self._count = 0
        self._said = -interval  # the first event is reported at once

    def count(self, events: int = 1) -> int | None:
        """Counts `events`; when a report is due, how many were counted since the last one
        (these included), else None."""
        self._count += events
        now = self._clock()
        if now - self._said < self._interval:
            return None
        counted, self._count, self._said = self._count, 0, now
        return counted
