"""One HTTP/1.1 request on a connection of `serving.py`, as the ASGI app sees it: its scope,
`receive` (the body as it arrives, then `http.disconnect`) and `send` (the answer, framed by
Content-Length or chunks). The answer's head is held until its first body bytes: both leave
in one write, so no client or balancer ever holds a head whose body a dying replica never
sent, and the common answer costs one system call."""

from __future__ import annotations

import asyncio
import http
import json
import logging
from typing import Any, Protocol

log = logging.getLogger("naftiko")

# RFC 9110 §5.1 token characters for names; for values, anything but controls other than
# HTAB (§5.5). Checked by deleting the allowed bytes (`bytes.translate`): one table lookup per
# byte, where a regex character class cost ~10k instructions per answer.
_NAME_BYTES = bytes(b for b in range(0x21, 0x7F) if b not in b'()<>@,;:\\[]={}"/?')
_VALUE_BYTES = bytes(b for b in range(256) if b == 0x09 or 0x20 <= b != 0x7F)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
_BODY_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
# A body above this leaves in a second buffer of the same write, not copied after its head.
_JOIN_BELOW = 64 * 1024


def _status_line(status: int) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")


_STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}


class Connection(Protocol):
    """What a request needs of the connection it arrived on (`serving._Connection`)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    write_paused: bool

    async def drain(self) -> None: ...

    def resume(self) -> None: ...

    def answered(self, request: Request) -> None: ...


class Request:
    __slots__ = (
        "_body",
        "_chunked",
        "_continue",
        "_head",
        "_ready",
        "_remaining",
        "_waiter",
        "complete",
        "conn",
        "disconnected",
        "keep_alive",
        "more_body",
        "scope",
        "started",
    )

    def __init__(
        self, conn: Connection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self._continue = expect_continue  # the client waits for a 100 before its body
        self._body = b""
        self.more_body = True
        self._ready = False  # something (body, its end, a disconnect) for `receive` to say
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.started = False
        self.complete = False
        self._head = b""
        self._chunked = False
        self._remaining = 0

    # Fed by the connection's parser.
    def body(self, data: bytes) -> int:
        """Adds request body bytes; returns how many are buffered, unread by the app."""
        if not self.complete:
            self._body = self._body + data if self._body else data
            self._wake()
        return len(self._body)

    def ended(self) -> None:
        if not self.complete:
            self.more_body = False
            self._wake()

    def lost(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        self._ready = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            # Cancelled past the edge (a server shutdown's backstop): nothing can be said.
            self.conn.transport.close()
        except Exception:
            log.exception("unexpected error serving %s", self.scope.get("method"))
            self._fail()
        else:
            if not self.complete and not self.disconnected:
                # The edge logs why an answer was cut short (a pass-through whose upstream
                # broke): closing the connection is how HTTP/1.1 says it is incomplete.
                self._fail()

    def _fail(self) -> None:
        if self.disconnected or (self.started and not self._head):
            self.conn.transport.close()  # part of the answer is out: only closing can say
            return
        self.started = self.complete = True
        self.conn.transport.write(refusal(500, "internal error"))
        self.conn.transport.close()

    async def receive(self) -> dict[str, Any]:
        conn = self.conn
        if self._continue:
            self._continue = False
            if not conn.transport.is_closing():
                conn.transport.write(_CONTINUE)
        if not self._ready and not self.disconnected and not self.complete:
            conn.resume()  # the app wants more: reading may have paused at the high-water mark
            self._waiter = conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._ready = False
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body, self._body = self._body, b""
        conn.resume()
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {kind!r}")
            self._head = self._head_bytes(message["status"], message.get("headers", ()))
            self.started = True
            self._continue = False  # answered without its body: no 100 is owed
            return
        if self.complete or kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r} for this answer")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            body = b""
        elif self._chunked:
            body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + (
                b"" if more else b"0\r\n\r\n"
            )
        elif self._remaining >= 0:
            self._remaining -= len(body)
            if self._remaining < 0 or (not more and self._remaining):
                raise RuntimeError("answer body does not match its Content-Length")
        head, self._head = self._head, b""
        if head and len(body) > _JOIN_BELOW:
            conn.transport.writelines((head, body))
        elif head or body:
            conn.transport.write(head + body if head else body)
        if not more:
            self.complete = True
            self._wake()  # a `receive` waiting for the disconnect learns the answer is over
            if not self.keep_alive:
                conn.transport.close()
            conn.answered(self)

    def _head_bytes(self, status: int, headers: Any) -> bytes:
        if self._continue and self.more_body:
            # Answered before its body was asked for: the client may never send it, and
            # whatever it sends next would be read as that body. The connection ends here.
            self.keep_alive = False
        lines = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status]
        length: int | None = None
        chunked = close = False
        names, values = [], []
        for name, value in headers:
            name = name.lower()
            names.append(name)
            values.append(value)
            if name == b"content-length":
                if length is None:
                    length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif name == b"connection":
                close = b"close" in tokens(value)
                self.keep_alive = self.keep_alive and not close
            lines.append(b"%b: %b\r\n" % (name, value))
        # One scan over all names and one over all values, not two per header.
        if b"".join(names).translate(None, _NAME_BYTES) or b"\t".join(values).translate(
            None, _VALUE_BYTES
        ):
            raise RuntimeError("invalid character in an answer's header")
        unframed = False
        old = self.scope["http_version"] == "1.0"
        if (
            length is None
            and not chunked
            and self.scope["method"] != "HEAD"
            and status not in _NO_BODY_STATUSES
        ):
            if old:
                # No chunked coding for an HTTP/1.0 client (RFC 9112 §6.1): the body ends
                # where the connection does.
                unframed = True
                self.keep_alive = False
            else:
                chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive and not close:
            lines.append(b"connection: close\r\n")
        elif old and self.keep_alive:
            # An HTTP/1.0 client that asked to keep the connection learns it is kept
            # (RFC 9112 §9.3): `ab -k` and old proxies reuse it.
            lines.append(b"connection: keep-alive\r\n")
        self._chunked = chunked
        self._remaining = -1 if unframed else 0 if chunked or length is None else length
        lines.append(b"\r\n")
        return b"".join(lines)


def refusal(status: int, detail: str) -> bytes:
    """A whole answer written by the serving layer itself (no app had the request, or it
    failed): the problem+json of every other refusal, and the connection closes after it."""
    title = http.HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n{body}"
    ).encode()


def tokens(value: bytes) -> list[bytes]:
    """The lower-cased tokens of a comma-separated header value (`Connection`)."""
    return [token.strip().lower() for token in value.split(b",")]


def asks_websocket(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an upgrade request's (lower-cased) headers ask for a WebSocket."""
    connection: list[bytes] = []
    upgrade = None
    for name, value in headers:
        if name == b"connection":
            connection = tokens(value)
        elif name == b"upgrade":
            upgrade = value.lower()
    return b"upgrade" in connection and upgrade == b"websocket"


def handshake(method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's head again, for the WebSocket protocol it is handed to. Without its
    framing headers: llhttp hands over what follows the head as the new protocol's bytes,
    and a handshake that announced a body would wait for it for ever."""
    lines = [method, b" ", url, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if name not in _BODY_FRAMING:
            lines += [name, b": ", value, b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)
