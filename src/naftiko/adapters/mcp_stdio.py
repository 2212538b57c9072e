"""MCP over stdin/stdout: one JSON-RPC message per line, nothing else on stdout.

The SDK's own `stdio_server` reads stdin from an anyio worker thread that cannot be
interrupted, so a SIGTERM while the client keeps stdin open would hang the process at exit.
Here a daemon thread reads the lines and the event loop does the rest: cancelling the
session returns at once, and the blocked thread dies with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

from naftiko.adapters.mcp_envelope import (
    PARSE_FAILURE,
    Refusal,
    batch_refusal,
    check,
    in_batch_refusal,
    is_request,
)

log = logging.getLogger("naftiko")

_Line = bytes | None  # None: end of input


async def serve_stdio(server: Server[Any], stop: asyncio.Event) -> None:
    """Serve one MCP session on the process's stdin/stdout until stdin closes, then set
    `stop` so the whole process winds down (the client closing stdin means "exit")."""
    try:
        with _claimed_std_streams() as (wire_in, wire_out):
            await _session(server, wire_in, wire_out)
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


async def _session(server: Server[Any], wire_in: BinaryIO, wire_out: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[_Line] = asyncio.Queue()
    reader = threading.Thread(
        target=_read_lines, args=(wire_in, loop, lines), name="mcp-stdin", daemon=True
    )
    reader.start()
    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](16)
    wire = _Wire(wire_out)
    log.info("MCP server %s listening on stdio", server.name)
    async with anyio.create_task_group() as writing:
        # The writer drains every reply, and ends once both senders have closed.
        writing.start_soon(_encode, outbound_receive, wire)
        async with anyio.create_task_group() as reading:
            reading.start_soon(_decode, lines, inbound_send, outbound.clone(), wire)
            await server.run(inbound, outbound, server.create_initialization_options())
            reading.cancel_scope.cancel()


def _read_lines(
    wire_in: BinaryIO, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[_Line]
) -> None:
    try:
        for line in iter(wire_in.readline, b""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
    except (OSError, ValueError):
        pass  # stdin went away: the same as end of input
    with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody is waiting
        loop.call_soon_threadsafe(lines.put_nowait, None)


async def _decode(
    lines: asyncio.Queue[_Line],
    inbound: MemoryObjectSendStream[SessionMessage | Exception],
    replies: MemoryObjectSendStream[SessionMessage],
    wire: _Wire,
) -> None:
    async with inbound, replies:
        while (line := await lines.get()) is not None:
            if not line.strip():
                continue
            # Every malformed line gets its JSON-RPC answer (none would come from the session,
            # and the client would wait forever), and the session goes on.
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                await replies.send(SessionMessage(PARSE_FAILURE.error()))
                continue
            if isinstance(data, list):
                await _decode_batch(data, inbound, replies, wire)
                continue
            refusal = check(data)
            if refusal is not None:
                await replies.send(SessionMessage(refusal.error()))
                continue
            await _forward(data, inbound, replies, wire)
        # Input ended (`cat requests | naftiko run --stdio`): answer what was asked before
        # closing the session, which would otherwise drop requests still running.
        await wire.in_flight.idle.wait()


async def _forward(
    data: dict[str, Any],
    inbound: MemoryObjectSendStream[SessionMessage | Exception],
    replies: MemoryObjectSendStream[SessionMessage],
    wire: _Wire,
) -> None:
    try:
        message = types.jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValidationError:
        refusal = Refusal("Invalid Request: not a JSON-RPC message", data.get("id"))
        await replies.send(SessionMessage(refusal.error()))
        return
    if isinstance(message, types.JSONRPCRequest):
        wire.in_flight.started(message.id)
        if message.method == "initialize":
            wire.initializing.add(message.id)
    await inbound.send(SessionMessage(message))


async def _decode_batch(
    batch: list[Any],
    inbound: MemoryObjectSendStream[SessionMessage | Exception],
    replies: MemoryObjectSendStream[SessionMessage],
    wire: _Wire,
) -> None:
    """A batch, where the negotiated version has them: its members go to the session one by
    one, and their answers leave as one array once the last has come back."""
    refusal = batch_refusal(batch, wire.version)
    if refusal is not None:
        await replies.send(SessionMessage(refusal.error()))
        return
    members: list[dict[str, Any]] = []
    answers = _Batch(wire)
    for member in batch:
        refused = in_batch_refusal(member)
        if refused is not None:
            answers.done.append(refused.error())
        else:
            members.append(member)
            if is_request(member):
                answers.pending.add(member["id"])
    wire.open(answers)
    for member in members:
        await _forward(member, inbound, replies, wire)
    answers.flush_if_complete()


async def _encode(outbound: MemoryObjectReceiveStream[SessionMessage], wire: _Wire) -> None:
    async with outbound:
        async for item in outbound:
            message = item.message
            if isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
                wire.answered(message)
            else:
                wire.write([message])


class _Wire:
    """The writing side of the session: the negotiated version, the requests not answered
    yet, and the batches waiting for their last answer."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.in_flight = _InFlight()
        self.version: str | None = None
        self.initializing: set[types.RequestId] = set()
        self._batches: dict[types.RequestId, _Batch] = {}

    def open(self, batch: _Batch) -> None:
        for request_id in batch.pending:
            self._batches[request_id] = batch

    def answered(self, message: types.JSONRPCResponse | types.JSONRPCError) -> None:
        if isinstance(message, types.JSONRPCResponse) and message.id in self.initializing:
            self.initializing.discard(message.id)
            version = message.result.get("protocolVersion")
            self.version = version if isinstance(version, str) else None
        batch = self._batches.pop(message.id, None) if message.id is not None else None
        if batch is None:
            self.write([message])
        else:
            batch.pending.discard(message.id)
            batch.done.append(message)
            batch.flush_if_complete()
        self.in_flight.answered(message.id)

    def write(self, messages: list[types.JSONRPCMessage], *, as_array: bool = False) -> None:
        texts = [m.model_dump_json(by_alias=True, exclude_unset=True) for m in messages]
        line = "[" + ",".join(texts) + "]" if as_array else texts[0]
        self.out.write(line.encode() + b"\n")
        self.out.flush()


class _Batch:
    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.pending: set[types.RequestId] = set()
        self.done: list[types.JSONRPCMessage] = []

    def flush_if_complete(self) -> None:
        """One array once every request is answered (even of one answer: the client sent an
        array); a batch of notifications alone is answered with nothing (JSON-RPC 2.0 §6)."""
        if not self.pending and self.done:
            answers, self.done = self.done, []
            self.wire.write(answers, as_array=True)


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
