"""Real HTTP servers on loopback for tests: an aiohttp app on an ephemeral port in a thread."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # Which consumed namespace it was sent to (known to the in-memory transport only).
    namespace: str = ""


@dataclass
class Recorder:
    requests: list[Recorded] = field(default_factory=list)

    async def record(self, request: web.Request) -> Recorded:
        entry = Recorded(
            request.method,
            request.path,
            request.raw_path.split("?", 1)[0],
            request.raw_path.partition("?")[2],
            dict(request.headers),
            await request.read(),
        )
        self.requests.append(entry)
        return entry


async def _shutdown(runner: web.AppRunner) -> None:
    await runner.cleanup()
    # Handlers still sleeping (slow-upstream tests) are cancelled, not left to die with the loop.
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


@contextmanager
def serve_app(
    app: web.Application, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Run `app` on <host>:<ephemeral> in a background loop (HTTPS with `ssl_context`);
    yield its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        # A short shutdown timeout: slow handlers (timeout tests) are cancelled at teardown.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("test server did not start")
    try:
        yield f"{'https' if ssl_context else 'http'}://{host}:{holder['port']}"
    finally:
        runner = holder["runner"]
        assert isinstance(runner, web.AppRunner)
        asyncio.run_coroutine_threadsafe(_shutdown(runner), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
