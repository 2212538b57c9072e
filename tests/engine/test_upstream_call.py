"""`upstream_call.exchange`, what `Upstreams.send` sends with, against a loopback server."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from yarl import URL

from naftiko.engine.upstream_call import exchange
from tests.support.servers import serve_app


def _agents(seen: list[list[str]]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.getall("User-Agent", []))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


async def _get(url: str, headers: dict[str, str]) -> bytes:
    async with aiohttp.ClientSession() as session:
        timeout = aiohttp.ClientTimeout(total=10)
        loop = asyncio.get_running_loop()
        response = await exchange(
            session, loop, "GET", URL(url), headers, None, timeout, "naftiko/1"
        )
        body = await response.read()
        response.release()
        return body


def test_the_user_agent_is_the_gateways_unless_the_operation_sends_its_own() -> None:
    seen: list[list[str]] = []
    with serve_app(_agents(seen)) as url:
        assert asyncio.run(_get(url + "/a", {})) == b'{"ok": true}'
        asyncio.run(_get(url + "/b", {"user-agent": "partner-sdk/2"}))
    assert seen == [["naftiko/1"], ["partner-sdk/2"]]
