"""Canned upstream for benchmarks: every GET answers one fixed batch object."""

import json
import sys

import uvloop
from aiohttp import web

BODY = json.dumps(
    {
        "id": "batch_01",
        "object": "batch",
        "status": "completed",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file_01",
        "completion_window": "24h",
        "created_at": 1700000000,
        "request_counts": {"total": 100, "completed": 100, "failed": 0},
    }
).encode()


async def handle(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=None,
    print=None,
    loop=uvloop.new_event_loop(),
)
