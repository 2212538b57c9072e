"""Limits every HTTP adapter shares: the request body read once, under `--max-body` and an
idle timeout; headers under `--max-header-bytes`; a drain that answers every request still
running when it ends; pass-through bodies streamed.

An adapter only says how a refusal looks in its protocol (`Refuse`: problem+json for REST,
skill and control, a JSON-RPC error for MCP); what is refused, and when, is decided here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from naftiko.adapters.common import access_log, log, problem
from naftiko.defaults import DEFAULT_MAX_BODY
from naftiko.engine.metrics import Metrics

# The request body as read here, for an adapter whose SDK parses it again its own way (MCP
# reads exact decimals from it; tasks the SDK starts for the request inherit it).
REQUEST_BODY: ContextVar[bytes] = ContextVar("naftiko_request_body", default=b"")

# status, detail, the request body read so far (MCP answers with the request's id) → answer
Refuse = Callable[[int, str, bytes], Response]


@dataclass(frozen=True)
class BodyLimits:
    max_body: int = DEFAULT_MAX_BODY
    idle_seconds: float = 10.0  # the longest pause allowed between two pieces of a body
    # Headers that arrive whole in one read pass the protocol's byte count; they are
    # measured here (the protocol refuses those still incomplete past the limit).
    max_header_bytes: int = 64 * 1024


class Drain:
    """The requests in flight on every adapter of the runtime, and the cut at the end of the
    drain: each one still running is cancelled and answered 503 by its own edge."""

    def __init__(self) -> None:
        self.reading: set[asyncio.Task[Any]] = set()
        self.running: set[asyncio.Task[Any]] = set()
        self.cut: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Shutdown begins: a request still waiting for its body will not be served."""
        self._cancel(self.reading)

    def finish(self) -> int:
        """The drain time is over: everything still running is answered 503."""
        return self._cancel(self.reading | self.running)

    def _cancel(self, tasks: set[asyncio.Task[Any]]) -> int:
        for task in list(tasks):
            self.cut.add(task)
            task.cancel()
        return len(tasks)


class Bounds:
    """ASGI middleware around one adapter's app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        kind: str,
        namespace: str,
        limits: BodyLimits,
        drain: Drain,
        metrics: Metrics,
        refuse: Refuse,
    ) -> None:
        self.app = app
        self.kind = kind
        self.namespace = namespace
        self.limits = limits
        self.drain = drain
        self.metrics = metrics
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        exchange = _Exchange(send)
        body = b""
        drain = self.drain
        try:
            if _header_bytes(scope) > self.limits.max_header_bytes:
                limit = self.limits.max_header_bytes
                await self._answer(
                    scope, exchange, 431, f"request headers are larger than {limit} bytes"
                )
                return
            if _has_body(scope):
                drain.reading.add(task)
                try:
                    body = await self._read(scope, receive, exchange)
                finally:
                    drain.reading.discard(task)
                if exchange.started:
                    return  # refused (413/408) or the client went away
                receive = _replay(body, receive)
                REQUEST_BODY.set(body)
            drain.running.add(task)
            try:
                await self.app(scope, receive, exchange.send)
            finally:
                drain.running.discard(task)
        except asyncio.CancelledError:
            if task not in drain.cut:
                raise
            drain.cut.discard(task)
            task.uncancel()
            await self._cut_short(scope, exchange, body)

    async def _read(self, scope: Scope, receive: Receive, exchange: _Exchange) -> bytes:
        limit = self.limits.max_body
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._answer(scope, exchange, 413, f"request body is larger than {limit} bytes")
            return b""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            try:
                async with asyncio.timeout(self.limits.idle_seconds):
                    message = await receive()
            except TimeoutError:
                detail = f"request body stalled for {self.limits.idle_seconds:g} s"
                await self._answer(scope, exchange, 408, detail)
                return b""
            if message["type"] != "http.request":
                exchange.started = True  # the client is gone: nobody to answer
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._answer(
                    scope, exchange, 413, f"request body is larger than {limit} bytes"
                )
                return b""
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _cut_short(self, scope: Scope, exchange: _Exchange, body: bytes) -> None:
        if exchange.started:
            # Part of the answer is out: only closing the connection can say it is cut short.
            log.warning("%s %s: response cut short by shutdown", self.kind, self.namespace)
            return
        await self._answer(scope, exchange, 503, "the server is shutting down", body)

    async def _answer(
        self, scope: Scope, exchange: _Exchange, status: int, detail: str, body: bytes = b""
    ) -> None:
        """A refusal decided at the edge: answered, closing the connection (a body may still
        be on its way), with its access line and metric like any other answer."""
        started = time.perf_counter()
        response = self.refuse(status, detail, body)
        response.headers["Connection"] = "close"
        await response(scope, _nothing, exchange.send)
        elapsed = time.perf_counter() - started
        self.metrics.observe(self.kind, self.namespace, "-", str(status), elapsed)
        access_log.info(
            "%s %s %s %d %.1fms",
            self.namespace,
            scope["method"],
            scope["path"],
            status,
            elapsed * 1000,
        )


class _Exchange:
    """Watches what the app sends: whether the answer has started."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class Streamed(Response):
    """A pass-through body sent on as it arrives. When the upstream breaks (or passes the
    byte limit) after the first byte, the connection is closed without the final chunk, so
    the caller sees a truncated body as truncated."""

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        status: int,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, media_type=media_type, headers=headers)
        del self.headers["content-length"]
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A caller that goes away stops the copy (uvicorn drops sends after a disconnect, so
        # without this an endless upstream would be read on to the limit for nobody).
        gone = asyncio.create_task(_disconnected(receive))
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self._chunks:
                if gone.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:  # the upstream's fault, after our status line: log, cut
            log.warning("pass-through body cut short: %s", exc)
            return
        finally:
            gone.cancel()
            await self._chunks.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _header_bytes(scope: Scope) -> int:
    size = len(scope.get("raw_path") or b"") + len(scope["query_string"])
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
    return size


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value != b"0")
        if name == b"transfer-encoding":
            return True
    return False


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, handed to the app as one message; then the real channel (which
    reports the client's disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def problem_refusal(status: int, detail: str, body: bytes) -> Response:
    """How REST, skill and control refuse: problem+json."""
    return problem(status, detail)
