"""Limits every HTTP adapter shares, applied by `edge.Edge`: the request body read once,
under `--max-body` and an idle timeout; headers under `--max-header-bytes`; a drain that
answers every request still running when it ends; pass-through bodies streamed.

An adapter only says how a refusal looks in its protocol (`Refuse`: problem+json for REST,
skill and control, a JSON-RPC error for MCP); what is refused, and when, is decided here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from naftiko.adapters.common import error_response, log, problem
from naftiko.defaults import DEFAULT_MAX_BODY
from naftiko.errors import NaftikoError

# The request body as the edge read it (empty when none came), for the adapter that takes its
# arguments from it: REST, without reading the replayed `receive` again.
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


# A request's task, in its scope: put there by the serving protocol (serving.py) or else by
# the edge; cancelled by the protocol when the caller's connection is lost before its answer.
TASK = "naftiko.task"
GONE = "naftiko.gone"
CALLER_GONE = 499  # nginx's "client closed request": the status of the access line and metric


def caller_gone(scope: Scope) -> None:
    """The caller of `scope` went away before its answer: its request is cancelled, so that an
    upstream call it was waiting for is abandoned (its connection closed) and its place under
    `--max-connections` freed at once, not held until `--timeout` for an answer nobody reads."""
    task = scope.get(TASK)
    if isinstance(task, asyncio.Task) and not task.done():
        scope[GONE] = True
        task.cancel()


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


async def read_body(
    scope: Scope, receive: Receive, limits: BodyLimits
) -> tuple[bytes, tuple[int, str] | None]:
    """The whole request body, or why not: (413 or 408, detail), or (0, "") when the client
    went away before sending it all. A declared length over the limit was refused before
    (the edge, from the head), so only what arrives is counted here."""
    limit = limits.max_body
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        try:
            async with asyncio.timeout(limits.idle_seconds):
                message = await receive()
        except TimeoutError:
            return b"", (408, f"request body stalled for {limits.idle_seconds:g} s")
        if message["type"] != "http.request":
            return b"", (0, "")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", (413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), None


class Streamed(Response):
    """A pass-through body sent on as it arrives. When the upstream breaks (or passes the
    byte limit, or the timeout) before its first byte, the caller gets that error (502,
    504) instead of the status; after it, the connection is closed without the final chunk,
    so the caller sees a truncated body as truncated."""

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
        # A caller that goes away stops the copy (the server drops sends after a disconnect,
        # so without this an endless upstream would be read on to the limit for nobody).
        try:
            first = await anext(self._chunks, b"")
        except NaftikoError as exc:
            # Nothing is sent yet (the status line waits for the first byte): the answer is
            # the error, not a success cut short or the server's bare 500.
            await self._chunks.aclose()
            await error_response(exc)(scope, receive, send)
            return
        gone = asyncio.create_task(_disconnected(receive))
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            if first:
                await send({"type": "http.response.body", "body": first, "more_body": True})
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


def replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, handed to the app as one message; then the real channel (which
    reports the client's disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def problem_refusal(status: int, detail: str, body: bytes) -> Response:
    """How REST, skill and control refuse: problem+json."""
    return problem(status, detail)
