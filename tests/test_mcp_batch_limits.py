"""One MCP caller cannot open upstream connections without bound: a JSON-RPC batch (over HTTP
or stdio) serves at most 16 members at once, and a stdio client at most 64 requests, while
every member still gets its answer, in order. Nor can callers together make the gateway hold
upstream bodies without bound (`--max-upstream-memory`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from naftiko.adapters.mcp_envelope import BATCH_CONCURRENCY
from naftiko.engine.upstream import Upstreams
from naftiko.settings import Settings
from tests.support.engine_harness import write_spec
from tests.support.inprocess import serving
from tests.support.servers import serve_app
from tests.support.stdio import StdioSession

BOUND = 30.0  # a bound on waiting, not a timing


@dataclass
class Overlap:
    """The upstream holds every call until the test releases them, so that the calls the
    gateway sends at once pile up here: exactly its limit, never more."""

    url: str = ""
    now: int = 0
    most: int = 0
    total: int = 0
    released: bool = True

    def hold(self) -> None:
        self.most, self.released = 0, False

    def release_at(self, limit: int) -> None:
        """Once `limit` calls are held (the gateway then waits for one to end), let all go."""
        deadline = time.monotonic() + BOUND
        while self.now < limit:
            assert time.monotonic() < deadline, f"{self.now} calls held, {limit} expected"
            time.sleep(0.005)
        self.released = True


@pytest.fixture(scope="module")
def upstream() -> Iterator[Overlap]:
    seen = Overlap()

    async def handle(request: web.Request) -> web.Response:
        seen.now += 1
        seen.total += 1
        seen.most = max(seen.most, seen.now)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOUND
        try:
            while not seen.released and loop.time() < deadline:
                await asyncio.sleep(0.005)
        finally:
            seen.now -= 1
        return web.json_response({"n": request.query.get("n")})

    app = web.Application()
    app.router.add_get("/item", handle)
    with serve_app(app) as url:
        seen.url = url
        yield seen


def _spec(folder: Path, base: str) -> Path:
    document: dict[str, Any] = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [
                {
                    "type": "mcp",
                    "port": 0,
                    "namespace": "batch-mcp",
                    "tools": [
                        {
                            "name": "item",
                            "description": "One item.",
                            "call": "up.item",
                            "with": {"n": "tools.n"},
                            "inputParameters": [{"name": "n", "type": "string"}],
                        }
                    ],
                }
            ],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": base,
                    "resources": [
                        {
                            "name": "items",
                            "path": "/item",
                            "operations": [
                                {
                                    "name": "item",
                                    "method": "GET",
                                    "inputParameters": [{"name": "n", "in": "query"}],
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }
    return write_spec(folder, document)


def _calls(count: int) -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "tools/call",
            "params": {"name": "item", "arguments": {"n": str(i)}},
        }
        for i in range(count)
    ]


def _texts(answers: list[dict[str, Any]]) -> list[str]:
    return [a["result"]["content"][0]["text"] for a in answers]


async def test_an_http_batch_serves_at_most_sixteen_members_at_once_and_answers_all(
    upstream: Overlap, tmp_path: Path
) -> None:
    upstream.hold()
    total = upstream.total
    spec = _spec(tmp_path, upstream.url)
    async with serving(spec) as gateway, gateway.client("batch-mcp") as client:
        asking = asyncio.create_task(client.post("/mcp", json=_calls(32)))
        await asyncio.to_thread(upstream.release_at, BATCH_CONCURRENCY)
        response = await asking
    answers = response.json()
    assert [a["id"] for a in answers] == list(range(32))
    assert _texts(answers) == [f'{{"n": "{i}"}}' for i in range(32)]
    assert (upstream.total - total, upstream.most) == (32, BATCH_CONCURRENCY)


def _handshake(session: StdioSession, version: str) -> None:
    client = {"name": "t", "version": "1"}
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": client}
    session.answer({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": params})
    session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


def test_a_stdio_batch_serves_at_most_sixteen_members_at_once(
    upstream: Overlap, tmp_path: Path
) -> None:
    upstream.hold()
    session = StdioSession(_spec(tmp_path, upstream.url))
    try:
        _handshake(session, "2025-03-26")
        session.send(_calls(32))
        upstream.release_at(BATCH_CONCURRENCY)
        answers = session.read()
    finally:
        session.close()
    assert [a["id"] for a in answers] == list(range(32))
    assert upstream.most == BATCH_CONCURRENCY


def test_a_stdio_client_gets_at_most_64_requests_served_at_once(
    upstream: Overlap, tmp_path: Path
) -> None:
    upstream.hold()
    session = StdioSession(_spec(tmp_path, upstream.url))
    try:
        _handshake(session, "2025-06-18")
        for call in _calls(100):
            session.send(call)
        upstream.release_at(64)
    finally:
        # Every request is answered before the session ends with its input.
        answers = [json.loads(line) for line in session.close()]
    assert sorted(a["id"] for a in answers) == list(range(100))
    assert upstream.most == 64


def _call(number: int, n: str) -> dict[str, Any]:
    params = {"name": "item", "arguments": {"n": n}}
    return {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}


async def test_upstream_bodies_held_at_once_are_bounded_and_let_go_with_their_answer(
    upstream: Overlap, tmp_path: Path
) -> None:
    big = "x" * 1000  # each upstream answer is about 1 KB: two do not fit in 1,500 bytes
    settings = Settings(max_upstream_memory=1500)
    spec = _spec(tmp_path, upstream.url)
    async with serving(spec, settings=settings) as gateway, gateway.client("batch-mcp") as c:
        # A batch's answer leaves whole: the first body is held while the second is read.
        both = (await c.post("/mcp", json=[_call(0, big), _call(1, big)])).json()
        again = (await c.post("/mcp", json=_call(2, big))).json()
        upstreams = gateway.runtime.engines[0].upstreams
    assert isinstance(upstreams, Upstreams)
    refused = (
        "upstream 'up': the gateway holds as many upstream bodies as --max-upstream-memory "
        "allows (1500 bytes); retry later"
    )
    results = [answer["result"] for answer in both]
    assert sorted(r["isError"] for r in results) == [False, True]
    assert [r["content"][0]["text"] for r in results if r["isError"]] == [refused]
    # Released with the answer: the next request has the whole budget again.
    assert again["result"]["isError"] is False
    assert upstreams.budget.held == 0


def test_past_the_memory_budget_a_rest_caller_is_told_to_retry_with_a_503() -> None:
    from naftiko.adapters.common import status_for
    from naftiko.engine.streams import MemoryFull

    assert status_for(MemoryFull("up", 1500)) == 503
