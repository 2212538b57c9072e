"""The JSON-RPC edge of MCP over HTTP, between the adapter and the SDK's session manager.

It reads the POST body once, answers what the SDK would answer wrongly (a malformed envelope,
an id it would silently drop, a batch) and hands every well-formed message on. Whatever the
SDK itself refuses as text or with an empty body (wrong Content-Type, 406, 413) leaves here as
a JSON-RPC error in `application/json`, and a 202 carries no content type at all.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import anyio
import mcp_types as types
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko.adapters.mcp_envelope import (
    BATCH_VERSION,
    PARSE_FAILURE,
    Refusal,
    batch_refusal,
    check,
    in_batch_refusal,
    is_request,
)

_JSON = b"application/json"
_VERSION_HEADER = b"mcp-protocol-version"
_NOT_JSON = Refusal("Unsupported Media Type: Content-Type must be application/json")


class JsonRpcEdge:
    """ASGI wrapper around the SDK's streamable-HTTP entry, for POSTs."""

    def __init__(self, inner: ASGIApp) -> None:
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        send = _as_json_rpc(send)
        if not _declares_json(scope):
            await _answer(send, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, _NOT_JSON.json())
            return
        body = await _read_body(receive)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            await _answer(send, HTTPStatus.BAD_REQUEST, PARSE_FAILURE.json())
            return
        if isinstance(message, list):
            await self._batch(scope, message, receive, send)
            return
        refusal = check(message)
        if refusal is not None:
            await _answer(send, HTTPStatus.BAD_REQUEST, refusal.json())
            return
        await self._inner(_with_length(scope, len(body)), _replay(body, receive), send)

    async def _batch(self, scope: Scope, batch: list[Any], receive: Receive, send: Send) -> None:
        """Each member is served as its own POST; the answers go back as one array, in order."""
        # Without the header a server assumes 2025-03-26 (streamable HTTP, protocol version).
        version = _header(scope, _VERSION_HEADER) or BATCH_VERSION
        refusal = batch_refusal(batch, version)
        if refusal is not None:
            await _answer(send, HTTPStatus.BAD_REQUEST, refusal.json())
            return
        answers: list[bytes | None] = [None] * len(batch)

        async def serve(index: int, member: Any) -> None:
            refused = in_batch_refusal(member)
            if refused is not None:
                answers[index] = refused.json()
            elif is_request(member):
                answers[index] = await self._one(scope, member, receive)
            else:
                await self._one(scope, member, receive)

        async with anyio.create_task_group() as members:
            for index, member in enumerate(batch):
                members.start_soon(serve, index, member)
        replies = [a for a in answers if a]
        if not replies:
            await _answer(send, HTTPStatus.ACCEPTED, b"")
            return
        await _answer(send, HTTPStatus.OK, b"[" + b",".join(replies) + b"]")

    async def _one(self, scope: Scope, member: Any, receive: Receive) -> bytes:
        """The JSON body the SDK answers one member with (empty for a 202)."""
        body = json.dumps(member).encode()
        captured: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                captured.append(message.get("body", b""))

        replayed = _replay(body, receive)
        await self._inner(_with_length(scope, len(body)), replayed, _as_json_rpc(capture))
        return b"".join(captured)


def _as_json_rpc(send: Send) -> Send:
    """`send`, with a text or empty error response rewritten as a JSON-RPC error body, and
    the content type dropped from a 202 (it has no content)."""
    held: Message | None = None
    text: list[bytes] = []

    async def rewriting(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            status: int = message["status"]
            headers: list[tuple[bytes, bytes]] = message.get("headers", [])
            if status == HTTPStatus.ACCEPTED:
                message = {**message, "headers": _without(headers, b"content-type")}
            elif status >= 400 and _media_type(headers) != _JSON:
                held = message
                return
            await send(message)
        elif held is not None and message["type"] == "http.response.body":
            text.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = held["status"]
            detail = b"".join(text).decode("utf-8", "replace").strip()
            code = types.INVALID_REQUEST if status < 500 else types.INTERNAL_ERROR
            body = Refusal(detail or HTTPStatus(status).phrase, code=code).json()
            headers = _without(held["headers"], b"content-type", b"content-length")
            await send({**held, "headers": [*headers, *_json_headers(body)]})
            await send({"type": "http.response.body", "body": body})
        else:
            await send(message)

    return rewriting


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = _json_headers(body) if body else [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body over once, then the connection's own
    (which reports the client going away)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying


def _declares_json(scope: Scope) -> bool:
    return _media_type(scope["headers"]) == _JSON


def _media_type(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    value = _header_in(headers, b"content-type")
    return None if value is None else value.split(b";")[0].strip().lower()


def _header(scope: Scope, name: bytes) -> str | None:
    value = _header_in(scope["headers"], name)
    return None if value is None else value.decode("latin-1")


def _header_in(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _without(headers: list[tuple[bytes, bytes]], *names: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() not in names]


def _with_length(scope: Scope, length: int) -> Scope:
    headers = _without(scope["headers"], b"content-length")
    return {**scope, "headers": [*headers, (b"content-length", str(length).encode())]}
