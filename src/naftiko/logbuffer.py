"""The log handler `naftiko run` writes with: access lines buffered, everything else at once.

One unbuffered `write(2)` per access line was a fifth of the gateway's time under load
(/work/shared/perf/PROFILE.md). Like nginx's `access_log … buffer=32k flush=1s`, access lines
are kept in memory and written together: when 32 KiB are waiting, one second after the first
of them, before any other record (so the order of lines is kept), and at exit. Every line is
still written; only when changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TextIO

ACCESS_LOGGER = "naftiko.access"
_BUFFER_BYTES = 32 * 1024
_FLUSH_SECONDS = 1.0


class BufferedAccessHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler whose `naftiko.access` INFO records wait, bounded in bytes and time."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != ACCESS_LOGGER or record.levelno > logging.INFO:
            self.flush()
            super().emit(record)
            return
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self.buffer(line)

    def buffer(self, line: str) -> None:
        """An access line, formatted and terminated, to be written with the next batch."""
        with self.lock or _NO_LOCK:
            now = time.monotonic()
            if not self._pending:
                self._since = now
            self._pending.append(line)
            self._size += len(line)
            waited = now - self._since
        full = self._size >= _BUFFER_BYTES or waited >= _FLUSH_SECONDS
        # With a flush already scheduled, `_schedule` is not called.
        if full or (self._timer is None and not self._schedule()):
            self.flush()

    def _schedule(self) -> bool:
        """A flush one second from now on the running loop; False outside one (then: now)."""
        if self._timer is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._timer = loop.call_later(_FLUSH_SECONDS, self.flush)
        return True

    def flush(self) -> None:
        with self.lock or _NO_LOCK:
            pending, self._pending, self._size = self._pending, [], 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if pending:
                try:
                    self.stream.write("".join(pending))
                except (OSError, ValueError):
                    # The stream is gone (a closed pipe at exit): nothing left to write to.
                    return
            super().flush()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
