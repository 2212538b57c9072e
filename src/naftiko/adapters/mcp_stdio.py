"""MCP over stdin/stdout: one JSON-RPC message per line, nothing else on stdout.

The SDK's own `stdio_server` reads stdin from an anyio worker thread that cannot be
interrupted, so a SIGTERM while the client keeps stdin open would hang the process at exit.
Here a daemon thread reads the lines and the event loop does the rest: cancelling the
session returns at once, and the blocked thread dies with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

log = logging.getLogger("naftiko")

_Line = bytes | None  # None: end of input
_OVERSIZED = b"\x00oversized"  # a line past --max-body, told apart by identity
_PARSE_ERROR = types.JSONRPCError(
    jsonrpc="2.0", id=None, error=types.ErrorData(code=types.PARSE_ERROR, message="Parse error")
)


async def serve_stdio(server: Server[Any], stop: asyncio.Event, max_body: int) -> None:
    """Serve one MCP session on the process's stdin/stdout until stdin closes, then set
    `stop` so the whole process winds down (the client closing stdin means "exit")."""
    try:
        with _claimed_std_streams() as (wire_in, wire_out):
            await _session(server, wire_in, wire_out, max_body)
    finally:
        stop.set()


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


async def _session(
    server: Server[Any], wire_in: BinaryIO, wire_out: BinaryIO, max_body: int
) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[_Line] = asyncio.Queue()
    reader = threading.Thread(
        target=_read_lines, args=(wire_in, loop, lines, max_body), name="mcp-stdin", daemon=True
    )
    reader.start()
    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
    in_flight = _InFlight()
    log.info("MCP server %s listening on stdio", server.name)
    async with anyio.create_task_group() as writing:
        # The writer drains every reply, and ends once both senders have closed.
        writing.start_soon(_encode, outbound_receive, wire_out, in_flight)
        async with anyio.create_task_group() as reading:
            reading.start_soon(_decode, lines, inbound_send, outbound.clone(), in_flight, max_body)
            await server.run(inbound, outbound, server.create_initialization_options())
            reading.cancel_scope.cancel()


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
            loop.call_soon_threadsafe(lines.put_nowait, line)
    except (OSError, ValueError):
        pass  # stdin went away: the same as end of input
    with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody is waiting
        loop.call_soon_threadsafe(lines.put_nowait, None)


async def _decode(
    lines: asyncio.Queue[_Line],
    inbound: MemoryObjectSendStream[SessionMessage | Exception],
    replies: MemoryObjectSendStream[SessionMessage],
    in_flight: _InFlight,
    limit: int,
) -> None:
    async with inbound, replies:
        while (line := await lines.get()) is not None:
            if line is _OVERSIZED:
                error = types.ErrorData(
                    code=types.INVALID_REQUEST, message=f"request is larger than {limit} bytes"
                )
                await replies.send(
                    SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error))
                )
                continue
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except ValidationError:
                # A malformed line gets its JSON-RPC answer (the session has no id to
                # answer it with) and the session goes on.
                await replies.send(SessionMessage(_PARSE_ERROR))
                continue
            if isinstance(message, types.JSONRPCRequest):
                in_flight.started(message.id)
            await inbound.send(SessionMessage(message))
        # Input ended (`cat requests | naftiko run --stdio`): answer what was asked before
        # closing the session, which would otherwise drop requests still running.
        await in_flight.idle.wait()


async def _encode(
    outbound: MemoryObjectReceiveStream[SessionMessage], wire_out: BinaryIO, in_flight: _InFlight
) -> None:
    async with outbound:
        async for item in outbound:
            text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            wire_out.write(text.encode() + b"\n")
            wire_out.flush()
            if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
                in_flight.answered(item.message.id)


class _InFlight:
    """Ids of the client's requests that have not been answered yet."""

    def __init__(self) -> None:
        self._ids: set[types.RequestId] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def started(self, request_id: types.RequestId) -> None:
        self._ids.add(request_id)
        self.idle.clear()

    def answered(self, request_id: types.RequestId | None) -> None:
        if request_id is not None:
            self._ids.discard(request_id)
        if not self._ids:
            self.idle.set()
