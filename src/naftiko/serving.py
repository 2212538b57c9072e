"""The HTTP/1.1 connection uvicorn serves with (its `http=` protocol class): httptools (llhttp)
parses the bytes, each request is one ASGI call of the listener's app (`serving_request.py`),
and what a client may hold is bounded (`serving_limits.py`).

uvicorn keeps the listening sockets, TLS and graceful shutdown (it calls `shutdown()` on each
connection, then waits for its `connections` and `tasks` to empty). Its own httptools
protocol spent ~100k instructions per request on work the edge already does (a check per
header, an event and a keep-alive timer per request), and lacked those bounds. Bytes that
are not HTTP get the problem+json 400 of every other refusal; a caller that leaves before
its answer cancels its request (`limits.caller_gone`); pipelined requests are answered in
order, and no more are read while any waits.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from typing import Any, cast

import httptools

from naftiko.adapters.limits import TASK, caller_gone
from naftiko.serving_limits import Bounded, ClientLimits, Rejections
from naftiko.serving_request import Request, asks_websocket, handshake

log = logging.getLogger("naftiko")

_HIGH_WATER = 64 * 1024  # request body buffered unread before reading pauses
_MAX_TARGET = 0xFFFF  # the longest request target httptools can split


def protocol_for(limits: ClientLimits) -> type[asyncio.Protocol]:
    """uvicorn's `http=` protocol class, with `limits` applied to every connection."""

    class Protocol(_Connection):
        _limits = limits
        _rejections = Rejections()

    return Protocol


class _Connection(Bounded):
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.parser: Any = httptools.HttpRequestParser(self)
        # A request after one that said `Connection: close` is ignored, not a parse error
        # that would write a 400 into the middle of the first request's answer.
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.scheme = "http"
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._read_paused = False
        # The request being parsed, the one being answered, and those waiting (pipelined).
        self._parsing: Request | None = None
        self._serving: Request | None = None
        self._pipeline: deque[Request] = deque()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect = False
        self._coded = False  # a transfer coding besides chunked (gzip, ...)
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        # One timer per connection for keep-alive, not one per request: it checks, when it
        # fires, how long the connection has been idle.
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._rejected = False
        # Bytes read since the last chunk's size line with no body byte after it: the
        # trailers, whose fields httptools buffers whole (bounded like headers).
        self._chunk_head = False
        self._chunk_bytes = 0
        # A refusal of a pipelined request, written once the answers before it are out.
        self._refusal = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` instances, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        if len(self.connections) > self._limits.max_connections:
            self._reject()
            return
        # A connection that never says anything is closed like one that stops mid-header.
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._disarm()
        self._stop_send_timer()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        serving = self._serving
        if serving is not None and not serving.complete:
            caller_gone(serving.scope)
        for request in {serving, self._parsing, *self._pipeline}:
            if request is not None:
                request.lost()
        self._pipeline.clear()
        self.resume_writing()  # a `send` waiting for room learns the caller is gone
        # The parser's callbacks and the requests point back at this connection: let go of
        # them, so that a closed connection is freed as its last request ends, not left to
        # the cycle collector, which runs rarely (listeners.YOUNG_COLLECTION).
        self.parser = None
        self._parsing = self._serving = None

    def eof_received(self) -> bool | None:
        if self._rejected:
            self.transport.close()
        # The transport closes itself: like nginx, a client's FIN before its answer is taken
        # as the caller leaving (499), its request cancelled, even if it was a half-close.
        return None

    def data_received(self, data: bytes) -> None:
        if self._rejected or self._refusal:
            return  # read and dropped, so that closing does not reset the refusal away
        if self._awaiting_headers:
            self._header_bytes += len(data)
        elif self._chunk_head:
            self._chunk_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
            return
        except httptools.HttpParserCallbackError:
            if not self._refused():  # not refused by a callback itself: a bug
                log.exception("unexpected error reading a request")
                self._refuse(400, "the request is not valid HTTP/1.1")
            return
        except httptools.HttpParserError as exc:
            log.warning("invalid HTTP/1.1 request: %s", exc)
            self._refuse(400, "the request is not valid HTTP/1.1")
            return
        if self._refused():
            return
        if not self._awaiting_headers:
            if self._chunk_bytes > self._limits.max_header_bytes:
                limit = self._limits.max_header_bytes
                self._refuse(431, f"request trailers are larger than {limit} bytes")
            return
        if self._header_bytes > self._limits.max_header_bytes:
            limit = self._limits.max_header_bytes
            self._refuse(431, f"request headers are larger than {limit} bytes")
        elif self._header_timer is None:
            # Armed only for headers still incomplete after this read: a request that
            # arrives whole (nearly every one) costs no timer.
            self._arm()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._stop_send_timer()
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # What a request asks of its connection (serving_request.Connection).
    async def drain(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()
        await self._writable

    def resume(self) -> None:
        # Never while pipelined requests wait: a client that sends requests as fast as it
        # reads answers would queue another read's worth of them per answer, without end.
        # (The one request whose body is still arriving is the last parsed: it never waits.)
        if self._read_paused and not self._pipeline:
            self._read_paused = False
            self.transport.resume_reading()

    def answered(self, request: Request) -> None:
        """`request`'s answer has left: the next pipelined request, or idle until one comes."""
        if self.transport.is_closing():
            return
        if self._pipeline:
            self._start(self._pipeline.popleft())
            self.resume()  # once none waits any more
            return
        # Reading resumes: the next request, or the rest of a body the answer did not need.
        self.resume()
        if self._refusal:
            self.transport.write(self._refusal)
            self._linger()
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.config.timeout_keep_alive, self._idle)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: an idle connection closes now, a busy one after its
        answer."""
        serving = self._serving
        if serving is None or serving.complete:
            self.transport.close()
        else:
            serving.keep_alive = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._awaiting_headers = True
        self._url = b""
        self._headers = []
        self._expect = False
        self._coded = False  # a transfer coding besides chunked (gzip, ...)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._awaiting_headers:
            # A trailer field: dropped (RFC 9110 §6.5.1), never merged into the headers the
            # request was admitted with, which the app may already have read.
            return
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        elif name == b"transfer-encoding" and value.strip().lower() != b"chunked":
            self._coded = True  # llhttp has checked that chunked is the last coding
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm()
        parser = self.parser
        if parser.should_upgrade() and asks_websocket(self._headers):
            return  # handed over in `_upgrade`
        if self._coded:
            # Never passed on still coded, as if it were the body (RFC 9112 §6.1).
            self._refuse(501, "no transfer coding but chunked is supported")
            raise httptools.HttpParserError("transfer coding")
        version = parser.get_http_version()
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            # An authority (CONNECT host:port) or a target llhttp took but cannot split:
            # refused, and the parse stops here (the exception ends `feed_data`).
            if len(self._url) > _MAX_TARGET:
                self._refuse(414, f"request target is longer than {_MAX_TARGET} bytes")
            else:
                self._refuse(400, "the request target is not a path")
            raise
        raw_path = url.path
        if raw_path is None:
            if not url.schema:
                self._refuse(400, "the request target is not a path")
                raise httptools.HttpParserInvalidURLError("no path")
            raw_path = b"/"  # absolute-form with an empty path (RFC 9112 §3.2.2)
        path = raw_path.decode("ascii")  # llhttp refuses a target that is not ASCII
        if "%" in path:
            path = urllib.parse.unquote(path)
        root = self.config.root_path
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": root,
            "path": root + path,
            "raw_path": root.encode("ascii") + raw_path if root else raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
        }
        # HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
        keep_alive = parser.should_keep_alive()
        # An HTTP/1.0 client never waits for a 100 (RFC 9110 §10.1.1: ignored).
        request = Request(self, scope, keep_alive, self._expect and version != "1.0")
        self._parsing = request
        serving = self._serving
        if serving is None or serving.complete:
            self._start(request)
        else:
            self._pause()  # answered in order: no more requests are read meanwhile
            self._pipeline.append(request)

    def on_chunk_header(self) -> None:
        self._chunk_head = True

    def on_body(self, body: bytes) -> None:
        self._chunk_head = False
        self._chunk_bytes = 0
        request = self._parsing
        if request is not None and request.body(body) > _HIGH_WATER:
            self._pause()

    def on_message_complete(self) -> None:
        self._chunk_head = False
        self._chunk_bytes = 0
        if self._parsing is not None:
            self._parsing.ended()

    # The rest
    def _start(self, request: Request) -> None:
        self._serving = request
        task = self.loop.create_task(request.run(self.app))
        # The edge's handle on the request, to cancel it when its caller leaves.
        request.scope[TASK] = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _idle(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing():
            return
        serving = self._serving
        if self._header_bytes or self._pipeline or (serving is not None and not serving.complete):
            return  # busy: the header timer, or the answer's end, re-arms
        left = self._idle_since + self.config.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._idle)
        else:
            self.transport.close()

    def _upgrade(self) -> None:
        """An upgrade: a WebSocket handshake goes to uvicorn's WebSocket protocol (whose app,
        the edge, declines it); any other upgrade (h2c) is served as a plain request, and
        the connection then closes: llhttp reads nothing more after an upgrade."""
        if not asks_websocket(self._headers):
            if self._parsing is not None:
                self._parsing.keep_alive = False
            return
        self.connections.discard(self)
        protocol = self.config.ws_protocol_class(
            config=self.config, server_state=self.server_state, app_state={}
        )
        protocol.connection_made(self.transport)
        protocol.data_received(handshake(self.parser.get_method(), self._url, self._headers))
        self.transport.set_protocol(protocol)


_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _address(value: Any) -> tuple[str, int] | None:
    """A socket's (host, port) as ASGI gives it; None for a UNIX socket."""
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None
