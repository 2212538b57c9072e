"""Load for tests of what must not drop a request (reloads, a replica going away): keep-alive
clients in threads sending one GET until stopped, bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx2 as httpx


class Load:
    """Every answer that is not a 200, and every exception, is kept in `failures`; each 200
    goes to `answered` (what the test checks of an answer), and `done` counts every answer."""

    def __init__(
        self,
        url: str,
        *,
        threads: int = 4,
        bound: int = 5_000,
        answered: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.url = url
        self.bound = bound  # requests per thread at most; the loop also stops when told
        self.answered = answered
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.done = 0
        self.threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def _loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            for _ in range(self.bound):
                if self.stop.is_set():
                    return
                try:
                    answer = client.get(self.url)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")
                elif self.answered is not None:
                    self.answered(answer)
                self.done += 1

    def until(self, more: int) -> None:
        """Wait (bounded) until `more` further requests were answered."""
        target, deadline = self.done + more, time.monotonic() + 30
        while self.done < target:
            assert time.monotonic() < deadline, "the load stalled"
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
