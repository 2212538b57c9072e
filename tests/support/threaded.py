"""`naftiko run` without the process: the runtime built as the CLI builds it and served by
`listeners.serve` (the same listeners, client limits, lifespans and drain) on an event loop in
a thread of the test process, on ephemeral loopback ports.

For tests whose subject is what the adapters answer over real sockets to real clients (the
openai SDK, the mcp SDK, schemathesis, raw sockets), not the CLI, signals or the process: no
interpreter start and no second import of every dependency, which is most of what a
`naftiko run` process costs a test. The process itself stays proven by the tests that need it
(tests/support/process.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from naftiko.engine.tracing import TraceIds
from naftiko.listeners import serve
from naftiko.logs import formatter
from naftiko.runtime import Runtime, build
from naftiko.settings import Settings

READY_TIMEOUT = 60.0  # a bound, not a timing: a loaded machine may take long


@dataclass
class Gateway:
    """What a test reads of the served runtime: each adapter's URL, and the log lines."""

    runtime: Runtime
    urls: dict[str, str]
    lines: list[str] = field(default_factory=list)

    def url(self, namespace: str) -> str:
        return self.urls[namespace]

    def logs(self) -> str:
        return "\n".join(self.lines)

    def log_line(self, text: str, bound: float = READY_TIMEOUT) -> str:
        """The first log line containing `text`, waiting (bounded) for it: a line about a
        request may be written just after its answer."""
        deadline = time.monotonic() + bound
        while (found := next((ln for ln in self.lines if text in ln), None)) is None:
            assert time.monotonic() < deadline, f"no log line with {text!r}:\n{self.logs()}"
            time.sleep(0.01)
        return found


class _Lines(logging.Handler):
    def __init__(self, lines: list[str], log_format: str) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        # The lines as `naftiko run` writes them (`--log-format`), trace ids included.
        self.setFormatter(formatter(log_format))
        self.addFilter(TraceIds())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def naftiko_thread(
    *specs: Path, env: Mapping[str, str] | None = None, settings: Settings | None = None
) -> Iterator[Gateway]:
    """Serve `specs` until the block ends, then stop as SIGTERM would (drain, close)."""
    runtime = build(list(specs), settings or Settings(), {**os.environ, **(env or {})})
    gateway = Gateway(runtime, {})
    logger = logging.getLogger("naftiko")
    handler, level = _Lines(gateway.lines, runtime.settings.log_format), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # what `naftiko run` logs by default, access lines included
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        await serve(runtime, lambda _: ready.set(), stop=stop[0])

    def thread_main() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test, which fails with it
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    try:
        if not ready.wait(READY_TIMEOUT) or failure:
            raise RuntimeError(f"the runtime did not start: {failure}")
        gateway.urls.update({s.namespace: s.url for s in runtime.served})
        yield gateway
    finally:
        if stop:
            loop.call_soon_threadsafe(stop[0].set)
        thread.join(READY_TIMEOUT)
        loop.close()
        logger.removeHandler(handler)
        logger.setLevel(level)
