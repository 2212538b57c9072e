"""The large-body baseline: an aiohttp.web pass-through that streams the upstream's body."""

import sys

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = sys.argv[2]


async def on_startup(app: web.Application) -> None:
    app["client"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def proxy(request: web.Request) -> web.StreamResponse:
    path = request.match_info["tail"]
    async with request.app["client"].get(f"{UPSTREAM}/{path}") as upstream:
        response = web.StreamResponse(status=upstream.status)
        response.content_type = upstream.content_type
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(64 * 1024):
            await response.write(chunk)
        await response.write_eof()
        return response


app = web.Application()
app.on_startup.append(on_startup)
app.router.add_get("/{tail:.*}", proxy)
web.run_app(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=None,
    print=None,
    loop=uvloop.new_event_loop(),
)
