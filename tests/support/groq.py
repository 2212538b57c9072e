"""A fake GroqCloud Batch API: checks the bearer token and records what it receives.

Batch ids steer failures: `missing` → 404, `boom` → 500, `reset` → connection dropped,
`html` → a 200 HTML page, `slow` → answers after 30 s (longer than the tests' timeout),
`limited` → 429 with Retry-After and rate-limit headers, `problem` → 422 problem+json, `text` →
503 plain text, `revoked` → 401 as if the gateway's key had been revoked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.support.servers import Recorder

TOKEN = "gsk_test_0123456789abcdef"


def batch(batch_id: str, status: str = "validating") -> dict[str, Any]:
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": "file_01",
        "completion_window": "24h",
        "status": status,
        "created_at": 1_700_000_000,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
    }


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return web.json_response(body, status=status)


def groq_app(recorder: Recorder) -> web.Application:
    async def guard(request: web.Request) -> web.Response | None:
        await recorder.record(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "Invalid API Key")
        return None

    async def create(request: web.Request) -> web.StreamResponse:
        if (denied := await guard(request)) is not None:
            return denied
        payload = json.loads(await request.read() or b"null")
        if not isinstance(payload, dict) or "input_file_id" not in payload:
            return _error(400, "input_file_id is required")
        return web.json_response(batch("batch_new"))

    async def listing(request: web.Request) -> web.StreamResponse:
        if (denied := await guard(request)) is not None:
            return denied
        body = {"object": "list", "data": [batch("batch_01"), batch("batch_02")]}
        return web.json_response(body)

    async def retrieve(request: web.Request) -> web.StreamResponse:
        if (denied := await guard(request)) is not None:
            return denied
        return await _by_id(request, request.match_info["batch_id"], "validating")

    async def cancel(request: web.Request) -> web.StreamResponse:
        if (denied := await guard(request)) is not None:
            return denied
        return await _by_id(request, request.match_info["batch_id"], "cancelling")

    async def _by_id(request: web.Request, batch_id: str, status: str) -> web.StreamResponse:
        if batch_id == "missing":
            return _error(404, f"batch {batch_id} not found")
        if batch_id == "boom":
            return _error(500, "internal failure")
        if batch_id == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if batch_id == "limited":
            headers = {
                "Retry-After": "7",
                "x-ratelimit-remaining-requests": "0",
                "Set-Cookie": "upstream-session=1",
                "Server": "upstream/1.0",
            }
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers=headers
            )
        if batch_id == "problem":
            body = {"type": "urn:groq:invalid", "title": "Invalid", "status": 422, "detail": "no"}
            return web.json_response(body, status=422, content_type="application/problem+json")
        if batch_id == "text":
            return web.Response(text="down for maintenance", status=503)
        if batch_id == "revoked":
            return _error(401, "Invalid API Key")
        if batch_id == "html":
            return web.Response(
                text="<html><body>Bad gateway</body></html>", content_type="text/html"
            )
        if batch_id == "slow":
            # Longer than any test's --timeout; the server cancels it at teardown.
            await asyncio.sleep(30)
        return web.json_response(batch(batch_id, status))

    async def anything(request: web.Request) -> web.StreamResponse:
        await recorder.record(request)
        return _error(404, "no such route")

    app = web.Application()
    app.router.add_post("/openai/v1/batches", create)
    app.router.add_get("/openai/v1/batches", listing)
    app.router.add_get("/openai/v1/batches/{batch_id}", retrieve)
    app.router.add_post("/openai/v1/batches/{batch_id}/cancel", cancel)
    app.router.add_route("*", "/{tail:.*}", anything)
    return app
