"""The runtime served in-process: every adapter's ASGI app behind an httpx transport.

The engines open their real pooled upstream clients (the upstreams are real loopback
servers), or, given `transport=`, an in-memory one (tests/support/transport.py); every
adapter's lifespan is entered, exactly as `serve()` does before it binds ports; only the
listening sockets are skipped. Tests of behaviour that does not depend on sockets, signals or
the CLI run here in milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from naftiko.engine.transport import Transport
from naftiko.runtime import Runtime, build
from naftiko.settings import Settings


@dataclass
class Gateway:
    runtime: Runtime

    def app(self, namespace: str) -> Any:
        return next(s.adapter.app for s in self.runtime.served if s.namespace == namespace)

    def client(self, namespace: str, host: str = "127.0.0.1:8080") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app(namespace))
        return httpx.AsyncClient(transport=transport, base_url=f"http://{host}", timeout=30)


@asynccontextmanager
async def serving(
    *specs: Path,
    env: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    transport: Transport | None = None,
) -> AsyncIterator[Gateway]:
    shared = None if transport is None else (lambda plan: transport)
    runtime = build(list(specs), settings or Settings(), env or {}, transport=shared)
    async with opened(runtime):
        yield Gateway(runtime)


@asynccontextmanager
async def opened(runtime: Runtime) -> AsyncIterator[None]:
    """What `serve()` opens of a built runtime before it listens: tracing, the engines'
    upstream clients, every served adapter's lifespan; closed in reverse on the way out."""
    async with AsyncExitStack() as stack:
        if runtime.telemetry is not None:
            stack.callback(runtime.telemetry.shutdown)
        for engine in runtime.engines:
            await engine.start()
            stack.push_async_callback(engine.close)
        for served in runtime.served:
            await stack.enter_async_context(served.adapter.lifespan())
        yield


async def mcp_call(
    client: httpx.AsyncClient, tool: str, arguments: dict[str, Any], **headers: str
) -> dict[str, Any]:
    """A bare JSON-RPC `tools/call` (as the reference suite sends it); the JSON-RPC result."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    response = await client.post("/mcp", json=message, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result
