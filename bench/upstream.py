"""Canned upstream for benchmarks: every GET answers one fixed batch object, except
`/big/<bytes>`: that many bytes of JSON text, streamed in 64 KiB chunks (bench/bodies.py)."""

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


CHUNK = b"0" * (64 * 1024)


async def big(request: web.Request) -> web.StreamResponse:
    size = int(request.match_info["size"])
    response = web.StreamResponse()
    response.content_type = "application/json"
    response.content_length = size
    await response.prepare(request)
    while size > 0:
        await response.write(CHUNK[: min(size, len(CHUNK))])
        size -= len(CHUNK)
    await response.write_eof()
    return response


app = web.Application()
app.router.add_get("/big/{size}", big)
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=None,
    print=None,
    loop=uvloop.new_event_loop(),
)
