"""What every HTTP adapter answers the same way, once, as ASGI middleware around it:
a `Date` on every response (RFC 9110 §6.6.1), a 400 for a request without exactly one `Host`
(RFC 9112 §3.2), and the request id: an incoming `X-Request-Id` (or a new one) is kept for the
engine to forward upstream, with any W3C `traceparent`, and is returned on the response.
"""

from __future__ import annotations

import os
import re
import time
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko.adapters.common import problem
from naftiko.engine.tracing import Trace, tracing

# A caller's id is echoed in headers and logs: printable ASCII, bounded, or we mint our own.
_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


class HttpEdge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._second = 0
        self._date = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = _trace(scope["headers"])
        extra = [(b"date", self._now()), (b"x-request-id", trace.request_id.encode())]

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                # An upstream's own X-Request-Id (passed back) is the one its vendor knows.
                mine = [(k, v) for k, v in extra if not _has(headers, k)]
                message = {**message, "headers": [*headers, *mine]}
            await send(message)

        hosts = sum(1 for name, _ in scope["headers"] if name == b"host")
        if hosts > 1 or (hosts == 0 and scope.get("http_version") != "1.0"):
            await problem(400, "a request needs exactly one Host header")(scope, receive, stamped)
            return
        with tracing(trace):
            await self.app(scope, receive, stamped)

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._date = second, formatdate(second, usegmt=True).encode()
        return self._date


def _trace(headers: list[tuple[bytes, bytes]]) -> Trace:
    request_id = traceparent = None
    for name, value in headers:
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            request_id = value.decode("ascii")
        elif name == b"traceparent" and _TRACEPARENT.fullmatch(value.strip()):
            traceparent = value.strip().decode("ascii")
    return Trace(request_id or _new_id(), traceparent)


def _new_id() -> str:
    """`uuid.uuid4().hex`, the same 122 random bits and version bits, without the UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def _has(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)
