"""Pipelining on the serving protocol, over a real loopback socket with an app that answers
when the test lets it: the requests a client may queue are bounded by what one read holds, not
by how fast it sends (each waiting request is an object; a flood of them is memory)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from naftiko.serving import protocol_for
from naftiko.serving_limits import ClientLimits

ASK = b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class _Gated:
    """An ASGI app that answers each request only once the test opens its gate."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[str] = asyncio.Queue()
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        gate = self.gates.setdefault(scope["path"], asyncio.Event())
        await self.arrived.put(scope["path"])
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    def open(self, path: str) -> None:
        self.gates.setdefault(path, asyncio.Event()).set()


async def test_reading_stays_paused_while_pipelined_requests_wait_for_their_turn() -> None:
    app = _Gated()
    config = SimpleNamespace(
        loaded=True, loaded_app=app, timeout_keep_alive=5, root_path="", ws_protocol_class=None
    )
    state = SimpleNamespace(connections=set(), tasks=set())
    # uvicorn's protocol signature (config, server state, app state), which `type` hides.
    protocol: Any = protocol_for(ClientLimits())
    connections: list[Any] = []

    def factory() -> asyncio.Protocol:
        made: asyncio.Protocol = protocol(config, state, {})
        connections.append(made)
        return made

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(ASK % 1 + ASK % 2 + ASK % 3)
        assert await app.arrived.get() == "/1"
        transport = connections[0].transport
        assert not transport.is_reading()  # /2 and /3 wait: no more requests are read
        app.open("/1")
        assert await app.arrived.get() == "/2"
        # /3 still waits behind /2: reading must not resume (a client sending requests as
        # fast as it reads answers would queue a read's worth more per answer, without end).
        assert not transport.is_reading()
        app.open("/2")
        assert await app.arrived.get() == "/3"
        assert transport.is_reading()  # nothing waits any more: the next request may come
        app.open("/3")
        answers = b""
        while answers.count(b"HTTP/1.1 200") < 3:
            answers += await reader.read(65536)
        assert answers.index(b"/1") < answers.index(b"/2") < answers.index(b"/3")
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
