"""MCP over HTTP (streamable HTTP, stateless, JSON answers): each POST is answered whole.

The order of the checks is the wire's contract (pinned by tests/test_mcp_wire.py): the
Content-Type (415), the JSON (-32700), batches (only under 2025-03-26), the envelope
(-32600), then the era the `MCP-Protocol-Version` header names. Without the header, or with a
handshake-era version, a request is served at that version (2025-03-26 when absent) with no
session to open first; any other value is the 2026-07-28 sessionless era, whose `_meta`
envelope and `Mcp-Method`/`Mcp-Name` headers are checked before the method runs and whose
errors carry their HTTP status (400, 404). Every refusal is a JSON-RPC error in
`application/json`; a notification (or a posted response) is a bare 202.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from http import HTTPStatus
from typing import Any

from starlette.types import Receive, Scope, Send

import naftiko.safejson as safejson
from naftiko.adapters.mcp_envelope import (
    BATCH_VERSION,
    HEADER_MISMATCH,
    INVALID_REQUEST,
    PARSE_FAILURE,
    Refusal,
    RpcError,
    batch_refusal,
    check,
    encode,
    error_message,
    in_batch_refusal,
    is_request,
    serve_batch,
)
from naftiko.adapters.mcp_server import (
    DEFAULT_VERSION,
    ERROR_STATUS,
    HANDSHAKE_VERSIONS,
    META_VERSION,
    MODERN_VERSIONS,
    McpServer,
    envelope_refusal,
    unsupported_version,
    version_refusal,
)
from naftiko.errors import InputError

_JSON = b"application/json"
_NOT_JSON = Refusal("Unsupported Media Type: Content-Type must be application/json")
_NOT_ACCEPTABLE = Refusal("Not Acceptable: Client must accept application/json")
_NOT_ACCEPTABLE_MODERN = Refusal(HTTPStatus.NOT_ACCEPTABLE.phrase)
_NOT_ONE_MESSAGE = Refusal("Body must be a single JSON-RPC request or notification object")
_ROUTING = frozenset({b"mcp-protocol-version", b"mcp-method", b"mcp-name"})
_READ = _ROUTING | {b"content-type", b"accept"}
_NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_BASE64 = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")


class JsonRpcHttp:
    """The POST handler of one MCP adapter."""

    def __init__(self, server: McpServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _Headers(scope["headers"])
        if _media_type(headers.get(b"content-type")) != _JSON:
            await _answer(send, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, _NOT_JSON.json())
            return
        body = await _read_body(receive)
        try:
            message = parse(body)
        except (ValueError, RecursionError):
            await _answer(send, HTTPStatus.BAD_REQUEST, PARSE_FAILURE.json())
            return
        version = _text(headers.get(b"mcp-protocol-version"))
        if isinstance(message, list):
            await self._batch(headers, version, message, send)
            return
        refusal = check(message)
        if refusal is not None:
            await _answer(send, HTTPStatus.BAD_REQUEST, refusal.json())
        elif version is None or version in HANDSHAKE_VERSIONS:
            await self._handshake_era(headers, version, message, send)
        else:
            await self._modern(headers, version, message, send)

    async def _handshake_era(
        self,
        headers: _Headers,
        version: str | None,
        message: dict[str, Any],
        send: Send,
    ) -> None:
        if not _accepts(headers)[0]:
            await _answer(send, HTTPStatus.NOT_ACCEPTABLE, _NOT_ACCEPTABLE.json())
            return
        if not is_request(message):
            await _answer(send, HTTPStatus.ACCEPTED, b"")
            return
        answer = await self.server.answer(message, version or DEFAULT_VERSION)
        await _answer(send, HTTPStatus.OK, encode(answer))

    async def _batch(
        self,
        headers: _Headers,
        version: str | None,
        batch: list[Any],
        send: Send,
    ) -> None:
        """Each member is served as its own request; the answers go back as one array, in
        order (without the header a server assumes 2025-03-26, which has batches)."""
        refusal = batch_refusal(batch, version or BATCH_VERSION)
        if refusal is not None:
            await _answer(send, HTTPStatus.BAD_REQUEST, refusal.json())
            return
        if not _accepts(headers)[0]:
            await _answer(send, HTTPStatus.NOT_ACCEPTABLE, _NOT_ACCEPTABLE.json())
            return

        async def serve(member: Any) -> dict[str, Any] | None:
            refused = in_batch_refusal(member)
            if refused is not None:
                return refused.error()
            if not is_request(member):
                return None
            return await self.server.answer(member, version or DEFAULT_VERSION)

        answers = await serve_batch(batch, serve)
        replies = [answer for answer in answers if answer is not None]
        if not replies:
            await _answer(send, HTTPStatus.ACCEPTED, b"")
            return
        await _answer(send, HTTPStatus.OK, encode(replies))

    async def _modern(
        self, headers: _Headers, version: str, message: dict[str, Any], send: Send
    ) -> None:
        """A 2026-07-28 request: one self-contained POST, checked rung by rung."""
        accepts_json, accepts_sse = _accepts(headers)
        if not accepts_json:
            await _answer(send, HTTPStatus.NOT_ACCEPTABLE, _NOT_ACCEPTABLE_MODERN.json())
            return
        if "id" not in message:
            if "method" not in message:
                await _answer(send, HTTPStatus.BAD_REQUEST, _NOT_ONE_MESSAGE.json())
            elif version in MODERN_VERSIONS:
                await _answer(send, HTTPStatus.ACCEPTED, b"")
            else:
                await _error(send, None, unsupported_version(version))
            return
        if "method" not in message:
            await _answer(send, HTTPStatus.BAD_REQUEST, _NOT_ONE_MESSAGE.json())
            return
        request_id, method = message["id"], message["method"]
        if method == "subscriptions/listen" and not accepts_sse:
            await _answer(send, HTTPStatus.NOT_ACCEPTABLE, _NOT_ACCEPTABLE_MODERN.json())
            return
        params = message.get("params")
        refusal = _ladder(headers, method, params)
        if refusal is not None:
            await _error(send, request_id, refusal)
            return
        answer = await self.server.answer(message, version)
        error = answer.get("error")
        status = ERROR_STATUS.get(error["code"], 200) if isinstance(error, dict) else 200
        await _answer(send, status, encode(answer))


def parse(body: bytes) -> Any:
    """safejson first, so exact decimals in tool arguments stay exact; NaN, Infinity or deep
    nesting are then read by the standard parser and refused per argument (an isError)."""
    try:
        return safejson.loads(body)
    except InputError:
        return json.loads(body)


def _ladder(headers: _Headers, method: str, params: Any) -> RpcError | None:
    """The 2026-07-28 rungs, first failure wins: one copy of each routing header, the
    envelope, the headers agreeing with the body, a version this server speaks."""
    if headers.repeated is not None:
        message = f"{headers.repeated.decode()} header appears more than once"
        return RpcError(HEADER_MISMATCH, message)
    refusal = envelope_refusal(params)
    if refusal is not None:
        return refusal
    assert isinstance(params, dict)  # the envelope rung proved it
    if _text(headers.get(b"mcp-protocol-version")) != params["_meta"][META_VERSION]:
        return RpcError(
            HEADER_MISMATCH,
            "mcp-protocol-version header does not match the request envelope's protocol version",
        )
    if _text(headers.get(b"mcp-method")) != method:
        return RpcError(
            HEADER_MISMATCH, "mcp-method header does not match the request body's method"
        )
    key = _NAME_PARAM.get(method)
    if key is not None:
        value = params.get(key)
        if value is not None and _decoded(_text(headers.get(b"mcp-name"))) != value:
            return RpcError(
                HEADER_MISMATCH,
                f"mcp-name header does not match the request body's {key!r} parameter",
            )
    return version_refusal(params)


def _decoded(value: str | None) -> str | None:
    """A header value, its `=?base64?…?=` form decoded (None when that form is malformed)."""
    if value is None:
        return None
    match = _BASE64.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        raw = base64.b64decode(payload, validate=True)
        if base64.b64encode(raw).decode("ascii") != payload:
            return None
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _accepts(headers: _Headers) -> tuple[bool, bool]:
    """(JSON, event stream) acceptable, wildcards included; no Accept at all is JSON (a bare
    curl POST)."""
    value = headers.get(b"accept")
    if value is None:
        return True, False
    kinds = {part.split(b";")[0].strip().lower() for part in value.split(b",")}
    anything = b"*/*" in kinds
    return (
        anything or bool(kinds & {b"application/json", b"application/*"}),
        anything or bool(kinds & {b"text/event-stream", b"text/*"}),
    )


async def _error(send: Send, request_id: Any, error: RpcError) -> None:
    status = ERROR_STATUS.get(error.code, 200)
    await _answer(send, status, encode(error_message(request_id, error.body())))


async def _answer(send: Send, status: int, body: bytes) -> None:
    if body:
        headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
    else:
        headers = [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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


def _media_type(value: bytes | None) -> bytes | None:
    return None if value is None else value.split(b";")[0].strip().lower()


class _Headers(dict[bytes, bytes]):
    """The request headers this transport reads (the first of each), found in one pass, and
    the first routing header sent twice (first-copy and last-copy readers would disagree)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.repeated: bytes | None = None
        for name, value in raw:
            if name not in _READ:
                continue
            if name not in self:
                self[name] = value
            elif name in _ROUTING and self.repeated is None:
                self.repeated = name


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


__all__ = ["INVALID_REQUEST", "JsonRpcHttp", "parse"]
