"""The baseline: a 20-line pass-through gateway, aiohttp server + aiohttp client."""

import sys

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = sys.argv[2]


async def on_startup(app: web.Application) -> None:
    app["client"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def proxy(request: web.Request) -> web.Response:
    path = request.match_info["tail"]
    async with request.app["client"].get(f"{UPSTREAM}/{path}") as upstream:
        body = await upstream.read()
        return web.Response(body=body, status=upstream.status, content_type="application/json")


app = web.Application()
app.on_startup.append(on_startup)
app.router.add_get("/v1/{tail:.*}", proxy)
web.run_app(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=None,
    print=None,
    loop=uvloop.new_event_loop(),
)
