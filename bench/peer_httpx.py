"""The same pass-through gateway with the httpx2 client instead of aiohttp's."""

import sys

import httpx2
import uvloop
from aiohttp import web

UPSTREAM = sys.argv[2]


async def on_startup(app: web.Application) -> None:
    app["client"] = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=None))


async def proxy(request: web.Request) -> web.Response:
    path = request.match_info["tail"]
    upstream = await request.app["client"].get(f"{UPSTREAM}/{path}")
    return web.Response(
        body=upstream.content, status=upstream.status_code, content_type="application/json"
    )


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
