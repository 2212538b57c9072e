"""MCP over stdin/stdout: one JSON-RPC message per line, nothing else on stdout.

A daemon thread reads the lines (a blocked read cannot be interrupted, so a SIGTERM while the
client keeps stdin open must not wait for it) and the event loop answers them through the
same `McpServer` as HTTP, writing answers without ever blocking on a client that stops
reading them (`_Output`). The client's first request decides the session's era: the
`initialize` handshake (requests wait for it, `ping` aside), or 2026-07-28 requests each
carrying their `_meta` envelope. Requests run concurrently; `initialize` is answered before
the next line is read, so a pipelined request sees the negotiated session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, BinaryIO

from naftiko.adapters.mcp_envelope import (
    INVALID_REQUEST,
    PARSE_FAILURE,
    UNSUPPORTED_PROTOCOL_VERSION,
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
from naftiko.adapters.mcp_http import parse
from naftiko.adapters.mcp_server import (
    MODERN_VERSIONS,
    McpServer,
    bad_params,
    envelope_refusal,
    has_modern_envelope,
    method_not_found,
    version_refusal,
)
from naftiko.engine import streams

log = logging.getLogger("naftiko")

_Line = bytes | None  # None: end of input
_OVERSIZED = b"\x00oversized"  # a line past --max-body, told apart by identity
_MODERN = MODERN_VERSIONS[-1]
_HANDSHAKE_ONLY = RpcError(
    INVALID_REQUEST,
    "this connection serves the handshake protocol era; "
    "requests carrying the 2026-07-28 envelope are not accepted on it",
)


async def serve_stdio(server: McpServer, stop: asyncio.Event, max_body: int) -> None:
    """Serve one MCP session on the process's stdin/stdout until stdin closes, then set
    `stop` so the whole process winds down (the client closing stdin means "exit")."""
    try:
        with _claimed_std_streams() as (wire_in, wire_out):
            await serve_session(server, wire_in, wire_out, max_body)
    finally:
        stop.set()


async def serve_session(
    server: McpServer, wire_in: BinaryIO, wire_out: BinaryIO, max_body: int
) -> None:
    """One MCP session, a JSON-RPC message per line, until `wire_in` ends: what `serve_stdio`
    runs on the process's own stdin/stdout (and the tests on a pair of pipes)."""
    await _Session(server, wire_out).run(wire_in, max_body)


@contextlib.contextmanager
def _claimed_std_streams() -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """Private duplicates of fds 0 and 1 for the protocol; fd 1 itself points at stderr while
    serving, so a stray `print` (ours or a library's) can never corrupt the wire."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # closefd=False for stdin: the reader thread may still block on it after we return.
    wire_in = os.fdopen(in_fd, "rb", closefd=False)
    wire_out = os.fdopen(out_fd, "wb")
    try:
        yield wire_in, wire_out
    finally:
        with contextlib.suppress(OSError):
            wire_out.flush()
        os.dup2(wire_out.fileno(), 1)
        os.dup2(in_fd, 0)
        wire_out.close()


# One client on stdio gets at most this many requests answered at once; the next line is
# read when one ends. Unbounded, a client writing requests without waiting started a task
# (and an upstream connection) per line: its input, not the gateway, set the process's size.
_IN_FLIGHT = 64


def _read_lines(
    wire_in: BinaryIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[_Line], limit: int
) -> None:
    try:
        while line := wire_in.readline(limit + 1):
            if len(line) > limit and not line.endswith(b"\n"):
                # Past the limit: the rest of the line is skipped, never held in memory.
                while (rest := wire_in.readline(limit + 1)) and not rest.endswith(b"\n"):
                    pass
                line = _OVERSIZED
            # Waits while the queue is full: a client writing faster than it is answered
            # waits on its pipe, and nothing of its input piles up here.
            asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()
    except (OSError, ValueError):
        pass  # stdin went away: the same as end of input
    except RuntimeError:
        return  # the loop is closed: nobody is waiting
    with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody is waiting
        loop.call_soon_threadsafe(lines.put_nowait, None)


class _Session:
    """One client on stdio: its era, whether it has initialized, what it still waits for."""

    def __init__(self, server: McpServer, out: BinaryIO) -> None:
        self.server = server
        self.out = out
        self.modern: bool | None = None  # decided by the first request
        self.initialized = False
        self.version: str | None = None  # negotiated by `initialize`
        self.running: set[asyncio.Task[None]] = set()
        self.output = _Output(out)

    async def run(self, wire_in: BinaryIO, limit: int) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[_Line] = asyncio.Queue(_IN_FLIGHT)
        reader = threading.Thread(
            target=_read_lines, args=(wire_in, loop, lines, limit), name="mcp-stdin", daemon=True
        )
        await self.output.open()
        reader.start()
        log.info("MCP server %s listening on stdio", self.server.identity.name)
        ended = False
        try:
            while (line := await lines.get()) is not None:
                if len(self.running) >= _IN_FLIGHT:
                    await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                await self._line(line, limit)
            # Input ended (`cat requests | naftiko run --stdio`): answer what was asked
            # before closing, rather than drop requests still running.
            while self.running:
                await asyncio.gather(*self.running)
            ended = True
        finally:
            for task in self.running:
                task.cancel()
            await self.output.close(flush=ended)

    async def _line(self, line: bytes, limit: int) -> None:
        if line is _OVERSIZED:
            await self.send(Refusal(f"request is larger than {limit} bytes").error())
            return
        if not line.strip():
            return
        # Every malformed line gets its JSON-RPC answer (the client would otherwise wait
        # forever), and the session goes on.
        try:
            message = parse(line)
        except (ValueError, RecursionError):
            await self.send(PARSE_FAILURE.error())
            return
        if isinstance(message, list):
            await self._batch(message)
            return
        refusal = check(message)
        if refusal is not None:
            await self.send(refusal.error())
        elif is_request(message):
            if message["method"] == "initialize" and not self._opens_modern(message):
                # Answered before the next line is read: what follows sees the session.
                await self.send(await self._answer(message))
            else:
                self._start(self._reply(message))
        elif message.get("method") == "notifications/initialized" and self.modern is not True:
            self.initialized = True

    async def _batch(self, batch: list[Any]) -> None:
        """Where the negotiated version has batches: the members are answered concurrently
        and their answers leave as one array (refusals first, known at once)."""
        refusal = batch_refusal(batch, self.version)
        if refusal is not None:
            await self.send(refusal.error())
            return
        refused: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        for member in batch:
            problem = in_batch_refusal(member)
            if problem is not None:
                refused.append(problem.error())
            elif is_request(member):
                requests.append(member)
            elif member.get("method") == "notifications/initialized":
                self.initialized = True

        async def answer_all() -> None:
            answers = [*refused, *await serve_batch(requests, self._answer)]
            if answers:  # a batch of notifications alone is answered with nothing
                await self.send(answers)

        self._start(answer_all())

    def _opens_modern(self, message: dict[str, Any]) -> bool:
        if self.modern is None:
            self.modern = message["method"] != "initialize" and has_modern_envelope(
                message.get("params")
            )
        return self.modern

    async def _reply(self, message: dict[str, Any]) -> None:
        await self.send(await self._answer(message))

    async def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        method, params = message["method"], message.get("params")
        refusal = self._refusal(method, params)
        if refusal is not None:
            return error_message(message["id"], refusal.body())
        if self.modern:
            return await self.server.answer(message, _MODERN)
        answer = await self.server.answer(message, self.version or "2025-11-25")
        if method == "initialize" and "result" in answer:
            self.version = answer["result"]["protocolVersion"]
            self.initialized = True
        return answer

    def _refusal(self, method: str, params: Any) -> RpcError | None:
        """What the session's era refuses before the method runs."""
        if self._opens_modern({"method": method, "params": params}):
            if method == "initialize":
                requested = params.get("protocolVersion") if isinstance(params, dict) else None
                data: dict[str, Any] = {"supported": list(MODERN_VERSIONS)}
                if isinstance(requested, str):
                    data["requested"] = requested
                return RpcError(
                    UNSUPPORTED_PROTOCOL_VERSION,
                    "connection is serving the 2026-07-28 protocol; "
                    "the initialize handshake is not accepted",
                    data,
                )
            return envelope_refusal(params) or version_refusal(params)
        if method != "initialize" and has_modern_envelope(params):
            return _HANDSHAKE_ONLY
        if self.initialized or method in ("initialize", "ping"):
            return None
        # Before the handshake: a method this server has is refused as the SDK does.
        return (
            bad_params("initialize first")
            if self.server.serves(method)
            else method_not_found(method)
        )

    def _start(self, work: Any) -> None:
        task = asyncio.ensure_future(_held(work))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def send(self, message: Any) -> None:
        await self.output.send(encode(message) + b"\n")


async def _held(work: Awaitable[None]) -> None:
    """One request's work, its upstream bodies counted against `--max-upstream-memory` until
    its answer has been written (as the edge counts an HTTP request's)."""
    held = streams.hold()
    try:
        await work
    finally:
        streams.release(held)


class _Output:
    """Answers leave without ever blocking the event loop. On a pipe or socket they go
    through asyncio's pipe transport: a client that stops reading its stdout makes the
    requests waiting to answer wait (and, through `_IN_FLIGHT`, the reading of more lines),
    while the loop stays free for SIGTERM. A plain file (`--stdio > answers.jsonl`) is
    written directly: a file never stops taking bytes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pipe: tuple[asyncio.WriteTransport, _Pipe] | None = None

    async def open(self) -> None:
        mode = os.fstat(self._out.fileno()).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            self._out.flush()
            loop = asyncio.get_running_loop()
            # The transport owns (and closes, at its own pace) a duplicate of the descriptor:
            # the session's caller still owns `out`, and closes it itself.
            own = os.fdopen(os.dup(self._out.fileno()), "wb")
            self._pipe = await loop.connect_write_pipe(_Pipe, own)

    async def send(self, data: bytes) -> None:
        # A client that closed our stdout has left: its answer has nowhere to go, and its
        # stdin ends next, which ends the session.
        if self._pipe is None:
            with contextlib.suppress(BrokenPipeError):
                self._out.write(data)
                self._out.flush()
            return
        transport, pipe = self._pipe
        if not transport.is_closing():
            transport.write(data)
            await pipe.writable.wait()

    async def close(self, flush: bool) -> None:
        """Closed when the session ends: after what is buffered has left (`flush`), or at
        once (a stop: a client not reading must not hold the process)."""
        if self._pipe is None:
            return
        transport, pipe = self._pipe
        if not flush:
            transport.abort()
            return
        transport.close()
        await pipe.closed.wait()


class _Pipe(asyncio.BaseProtocol):
    """The write side of stdout: whether its buffer can take more, and whether it is gone."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()  # nothing more leaves: nobody waits to write
        self.closed.set()
