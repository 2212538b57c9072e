"""The HTTP/1.1 connection uvicorn serves with (its `http=` protocol class): httptools (llhttp)
parses the bytes, each request is one ASGI call of the listener's app (`serving_request.py`),
and what a client may hold is bounded.

uvicorn keeps the listening sockets, TLS and graceful shutdown (it calls `shutdown()` on each
connection, then waits for its `connections` and `tasks` to empty). Its own httptools
protocol spent ~100k instructions per request on work the edge already does (a check per
header, an event and a keep-alive timer per request), and lacked these bounds:
- the request headers must arrive within `header_seconds` (408) and fit `max_header_bytes`
  (431); a silent connection is closed;
- past `max_connections` on a port, a connection is answered 503 at once;
- an answer whose buffer stays full (the client stopped reading) for `send_seconds` is cut;
- bytes that are not HTTP get the problem+json 400 of every other refusal;
- a caller that leaves before its answer cancels its request (`limits.caller_gone`).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import httptools

from naftiko.adapters.limits import TASK, caller_gone
from naftiko.defaults import DEFAULT_MAX_CONNECTIONS
from naftiko.serving_request import Request, asks_websocket, handshake, refusal

log = logging.getLogger("naftiko")

_HIGH_WATER = 64 * 1024  # request body buffered unread before reading pauses
_MAX_TARGET = 0xFFFF  # the longest request target httptools can split


@dataclass(frozen=True)
class ClientLimits:
    header_seconds: float = 10.0  # from a connection's (or request's) first byte to its headers
    max_header_bytes: int = 64 * 1024
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # on this port
    send_seconds: float = 60.0  # the longest the answer's buffer may stay full (unread)


_LINGER_SECONDS = 1.0
_MAX_LINGERING = 32


def protocol_for(limits: ClientLimits) -> type[asyncio.Protocol]:
    """uvicorn's `http=` protocol class, with `limits` applied to every connection."""

    class Protocol(_Connection):
        _limits = limits
        _rejections = _Rejections()

    return Protocol


class _Connection(asyncio.Protocol):
    _limits: ClientLimits
    _rejections: _Rejections
    transport: asyncio.Transport

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
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        # One timer per connection for keep-alive, not one per request: it checks, when it
        # fires, how long the connection has been idle.
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._rejected = False

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

    def eof_received(self) -> bool | None:
        if self._rejected:
            self.transport.close()
        # The transport closes itself: like nginx, a client's FIN before its answer is taken
        # as the caller leaving (499), its request cancelled, even if it was a half-close.
        return None

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # read and dropped, so that closing does not reset the 503 away
        if self._awaiting_headers:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
            return
        except httptools.HttpParserCallbackError:
            if not self.transport.is_closing():  # not refused by a callback itself: a bug
                log.exception("unexpected error reading a request")
                self._refuse(400, "the request is not valid HTTP/1.1")
            return
        except httptools.HttpParserError as exc:
            log.warning("invalid HTTP/1.1 request: %s", exc)
            self._refuse(400, "the request is not valid HTTP/1.1")
            return
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self._header_bytes > self._limits.max_header_bytes:
            limit = self._limits.max_header_bytes
            self._refuse(431, f"request headers are larger than {limit} bytes")
        elif self._header_timer is None:
            # Armed only for headers still incomplete after this read: a request that
            # arrives whole (nearly every one) costs no timer.
            self._arm()

    def pause_writing(self) -> None:
        # The answer's buffer is full: the client reads slower than we write. One that stops
        # reading (or trickles) would hold the connection and the answer's bytes for ever,
        # as many times as it has connections: like nginx's send_timeout, it gets a bound.
        self.write_paused = True
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self._limits.send_seconds, self._unread)

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
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def answered(self, request: Request) -> None:
        """`request`'s answer has left: the next pipelined request, or idle until one comes."""
        if self.transport.is_closing():
            return
        # Reading resumes: the next request, or the rest of a body the answer did not need.
        self.resume()
        if self._pipeline:
            self._start(self._pipeline.popleft())
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

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm()
        parser = self.parser
        if parser.should_upgrade() and asks_websocket(self._headers):
            return  # handed over in `_upgrade`
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
        keep_alive = version != "1.0" and parser.should_keep_alive()
        request = Request(self, scope, keep_alive, self._expect)
        self._parsing = request
        serving = self._serving
        if serving is None or serving.complete:
            self._start(request)
        else:
            self._pause()  # answered in order: no more requests are read meanwhile
            self._pipeline.append(request)

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        if request is not None and request.body(body) > _HIGH_WATER:
            self._pause()

    def on_message_complete(self) -> None:
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

    def _pause(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

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

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _unread(self) -> None:
        self._send_timer = None
        seconds = self._limits.send_seconds
        log.info("client left its answer unread for %g s: connection closed", seconds)
        self.transport.abort()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self._limits.header_seconds, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self._header_bytes:
            # A request was begun: say why it is closed (a silent connection is just closed).
            seconds = self._limits.header_seconds
            self._refuse(408, f"request headers not received within {seconds:g} s")
        else:
            self.transport.close()

    def _reject(self) -> None:
        """Past the connection limit: a 503 at once, never a silent reset. The socket is read
        (and dropped) a moment before closing: closing it with the request unread would reset
        the connection and could lose the answer on the way."""
        self._rejected = True
        # Not counted as open: the connections admitted under the limit must not pay for the
        # ones refused past it while these linger.
        self.connections.discard(self)
        if not self._rejections.logged:
            self._rejections.logged = True
            log.error(
                "connection limit (%d per port) reached: further connections are answered 503 "
                "(see --max-connections and the file descriptor limit)",
                self._limits.max_connections,
            )
        self._refuse(503, "too many connections; retry later", close=False)
        if self._rejections.lingering >= _MAX_LINGERING:
            self.transport.close()
            return
        self._rejections.lingering += 1
        if self.transport.can_write_eof():  # TLS has no half-close: the linger alone serves
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self._stop_lingering)

    def _stop_lingering(self) -> None:
        self._rejections.lingering -= 1
        self.transport.close()

    def _refuse(self, status: int, detail: str, close: bool = True) -> None:
        """Answered before any app sees the request: problem+json, then the connection ends."""
        self._awaiting_headers = False
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(refusal(status, detail))
        if close:
            self.transport.close()


_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _address(value: Any) -> tuple[str, int] | None:
    """A socket's (host, port) as ASGI gives it; None for a UNIX socket."""
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


class _Rejections:
    """Per port: whether the limit was reported, and how many rejected sockets linger."""

    def __init__(self) -> None:
        self.logged = False
        self.lingering = 0
