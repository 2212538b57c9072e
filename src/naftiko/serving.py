"""What uvicorn leaves unbounded on an HTTP connection: how long the request headers may take
(a silent or slowloris client), and how large they may be (431). Plus the process's file
descriptor budget, shared out as a connection limit per port.

uvicorn's httptools protocol is kept (its speed is the gateway's); this subclass only adds a
timer and a byte count around the header phase of each request, answers bytes that are not
HTTP with the problem+json of its other refusals, and writes an answer's head together with
what follows it (`_Coalescing`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from dataclasses import dataclass
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from naftiko.adapters.limits import caller_gone
from naftiko.defaults import DEFAULT_MAX_CONNECTIONS

log = logging.getLogger("naftiko")

_RESERVED_FDS = 64  # log files, upstream DNS, the spec's served files


@dataclass(frozen=True)
class ClientLimits:
    header_seconds: float = 10.0  # from a connection's (or request's) first byte to its headers
    max_header_bytes: int = 64 * 1024
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # on this port
    send_seconds: float = 60.0  # the longest the answer's buffer may stay full (unread)


_FINAL_HEAD = b"HTTP/1.1 "  # uvicorn's status line; a 1xx after it is interim
_LINGER_SECONDS = 1.0
_MAX_LINGERING = 32


def protocol_for(limits: ClientLimits) -> type[asyncio.Protocol]:
    """uvicorn's `http=` protocol class, with `limits` applied to every connection."""

    class Protocol(_GuardedProtocol):
        _limits = limits
        _rejections = _Rejections()

    return Protocol


class _GuardedProtocol(HttpToolsProtocol):
    _limits: ClientLimits
    _rejections: _Rejections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._rejected = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` instances, but have its methods.
        self._coalescing = _Coalescing(cast(asyncio.Transport, transport))
        super().connection_made(cast(asyncio.Transport, self._coalescing))
        if len(self.connections) > self._limits.max_connections:
            self._reject()
            return
        # A connection that never says anything is closed like one that stops mid-header.
        self._arm()

    def on_response_complete(self) -> None:
        self._coalescing.flush()  # a head that no body followed (HEAD, 204, 304)
        super().on_response_complete()

    def pause_writing(self) -> None:
        # The answer's buffer is full: the client reads slower than we write. One that stops
        # reading (or trickles) would hold the connection and the answer's bytes for ever,
        # as many times as it has connections: like nginx's send_timeout, it gets a bound.
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self._limits.send_seconds, self._unread)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_send_timer()

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _unread(self) -> None:
        self._send_timer = None
        seconds = self._limits.send_seconds
        log.info("client left its answer unread for %g s: connection closed", seconds)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_send_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # uvicorn's TypedDict is the ASGI scope the edge was given (a plain dict).
            caller_gone(cast(dict[str, Any], cycle.scope))
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._rejected:
            self.transport.close()
            return
        super().eof_received()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # read and dropped, so that closing does not reset the 503 away
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self._header_bytes > self._limits.max_header_bytes:
            limit = self._limits.max_header_bytes
            self._refuse(431, f"request headers are larger than {limit} bytes")
        elif self._header_timer is None:
            # Armed only for headers still incomplete after this read: a request that
            # arrives whole (nearly every one) costs no timer.
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True

    def on_headers_complete(self) -> None:
        self._coalescing.head_next = True  # the next final status line is this answer's head
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm()
        super().on_headers_complete()

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

    def send_400_response(self, msg: str) -> None:
        # httptools refused the bytes (a control character in a header, a bad request line,
        # conflicting lengths): the same problem+json as every other refusal, not uvicorn's
        # text/plain line. Its warning is logged by uvicorn before this is called.
        self._refuse(400, "the request is not valid HTTP/1.1")

    def _reject(self) -> None:
        """Past the connection limit: a 503 at once, never a silent reset. The socket is read
        (and dropped) a moment before closing: closing it with the request unread would reset
        the connection and could lose the answer on the way."""
        self._rejected = True
        # Not counted as open: uvicorn refuses every request (its text/plain 503) while its
        # set of connections holds `limit_concurrency`, and this one, lingering, would make
        # the callers admitted under the limit pay for the ones refused past it.
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
        title = _TITLES[status]
        body = json.dumps(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {title}\r\n"
            "content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self._awaiting_headers = False
        self._disarm()
        self.transport.write(head + body)
        self._coalescing.flush()  # whole already: nothing follows it
        if close:
            self.transport.close()


class _Coalescing:
    """The connection's transport, holding an answer's head (uvicorn writes it alone) until
    the write that follows: head and body leave in one system call, one segment. Besides
    the saved call, a replica killed between the two writes would leave a balancer with a
    head and no body, an answer it can neither use nor retry. A head with nothing after it
    (HEAD, 204) leaves when the answer is complete, or at close; an interim 1xx at once."""

    __slots__ = (
        "_held",
        "_transport",
        "abort",
        "get_extra_info",
        "head_next",
        "is_closing",
        "pause_reading",
        "resume_reading",
    )

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held = b""
        # Set when a request's headers are in: only then is a status line a head (a body
        # chunk that happens to start with one is never held back).
        self.head_next = False
        # What uvicorn calls on every request, bound once (not found through __getattr__).
        self.abort = transport.abort
        self.get_extra_info = transport.get_extra_info
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif self.head_next and data.startswith(_FINAL_HEAD) and data[9:10] != b"1":
            self._held, self.head_next = bytes(data), False
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(held)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Rejections:
    """Per port: whether the limit was reported, and how many rejected sockets linger."""

    def __init__(self) -> None:
        self.logged = False
        self.lingering = 0


_TITLES = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def raise_fd_limit() -> int:
    """Lift the soft file descriptor limit to the hard one (as Go's runtime does); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connections_per_port(wanted: int, ports: int, fd_limit: int) -> int:
    """At most `wanted` connections per port, fewer when the descriptors cannot cover them
    all: each served request may hold a client socket and an upstream socket."""
    budget = max(fd_limit - _RESERVED_FDS, 16) // (2 * max(ports, 1))
    return max(1, min(wanted, budget))
