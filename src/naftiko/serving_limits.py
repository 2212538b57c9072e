"""What one client may hold of a serving connection (`serving.py`), and how it is refused:
the request headers must arrive within `header_seconds` (408) and fit `max_header_bytes`
(431, trailers too); past `max_connections` on a port, a connection is answered 503 at once;
an answer whose buffer stays full (the client stopped reading) for `send_seconds` is cut.

A refusal is problem+json, then the connection closes. One for a pipelined request waits
for the answers before it (never written into one of them, nor cutting it off); the socket
is then read and dropped a moment before closing, so that a client still sending reads its
answer instead of a reset."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from naftiko.adapters.limits import caller_gone
from naftiko.defaults import DEFAULT_MAX_CONNECTIONS
from naftiko.serving_request import Request, refusal

log = logging.getLogger("naftiko")


@dataclass(frozen=True)
class ClientLimits:
    header_seconds: float = 10.0  # from a connection's (or request's) first byte to its headers
    max_header_bytes: int = 64 * 1024
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # on this port
    send_seconds: float = 60.0  # the longest the answer's buffer may stay full (unread)


_LINGER_SECONDS = 1.0
_MAX_LINGERING = 32


class Bounded(asyncio.Protocol):
    """The limits and refusals of `serving._Connection`, which owns this state."""

    _limits: ClientLimits
    _rejections: Rejections
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    write_paused: bool
    _read_paused: bool
    _serving: Request | None
    _parsing: Request | None
    _pipeline: deque[Request]
    _awaiting_headers: bool
    _header_bytes: int
    _header_timer: asyncio.TimerHandle | None
    _send_timer: asyncio.TimerHandle | None
    _rejected: bool
    _refusal: bytes

    def pause_writing(self) -> None:
        # The answer's buffer is full: the client reads slower than we write. One that stops
        # reading (or trickles) would hold the connection and the answer's bytes for ever,
        # as many times as it has connections: like nginx's send_timeout, it gets a bound.
        self.write_paused = True
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self._limits.send_seconds, self._unread)

    def _pause(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

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
        """Past the connection limit: a 503 at once, never a silent reset."""
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
        self._refuse(503, "too many connections; retry later")

    def _refuse(self, status: int, detail: str) -> None:
        """Answered before any app sees the request: problem+json, then the connection ends.
        A pipelined request's refusal waits for the answers before it (never written into
        one of them, nor cutting it off), unless its body is the one being served."""
        self._awaiting_headers = False
        self._disarm()
        if self._refused():
            return
        answer = refusal(status, detail)
        serving, parsing = self._serving, self._parsing
        busy = serving is not None and not serving.complete
        if busy and (parsing is None or parsing is not serving or not parsing.more_body):
            self._pause()
            if parsing is not None and parsing.more_body and self._pipeline:
                self._pipeline.pop().lost()  # its body was the broken part: never served
            self._refusal = answer
            return
        if busy and serving is not None:
            # Its own body broke: the 400 is its answer, and its app learns the caller is
            # gone (it never writes after it).
            caller_gone(serving.scope)
            serving.lost()
        self.transport.write(answer)
        self._linger()

    def _refused(self) -> bool:
        return self._rejected or bool(self._refusal) or self.transport.is_closing()

    def _linger(self) -> None:
        """Closes after a refusal. The socket is read (and dropped) a moment first: closing it
        with the client's bytes unread would reset the connection, and a client still sending
        (a request past a limit) would lose the answer on the way."""
        self._rejected = True
        # A connection past the limit (503) is no longer counted: how many of those linger
        # is bounded here. Any other holds its place under the limit while it lingers.
        counted = self in self.connections
        if not counted:
            if self._rejections.lingering >= _MAX_LINGERING:
                self.transport.close()
                return
            self._rejections.lingering += 1
        if self.transport.can_write_eof():  # TLS has no half-close: the linger alone serves
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self._stop_lingering, counted)

    def _stop_lingering(self, counted: bool) -> None:
        if not counted:
            self._rejections.lingering -= 1
        self.transport.close()


class Rejections:
    """Per port: whether the limit was reported, and how many refused sockets linger."""

    def __init__(self) -> None:
        self.logged = False
        self.lingering = 0
