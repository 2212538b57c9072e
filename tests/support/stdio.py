"""An MCP stdio session without the process: the runtime built as `naftiko run --stdio`
builds it, its MCP adapter's session (`mcp_stdio.serve_session`, what `serve_stdio` runs on
the process's stdin/stdout) served on a pair of pipes by an event loop in a thread.

For tests whose subject is the session (eras, handshake, envelopes, batches, limits), not
the process: `naftiko run --stdio` itself stays proven by process tests
(tests/test_mcp_protocol.py, and the SDK's own stdio client in tests/test_mcp_seed.py).
`sdk_transport` frames the mcp SDK client's messages on the pipes as its stdio client does."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from naftiko.adapters.mcp_stdio import serve_session
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.inprocess import opened

READY_TIMEOUT = 60.0  # a bound, not a timing: a loaded machine may take long


class StdioSession:
    """send/answer/close as a client of `naftiko run --stdio` would, with bounded reads: a
    missing answer fails, never hangs."""

    def __init__(
        self, spec: Path, env: Mapping[str, str] | None = None, max_body: int | None = None
    ) -> None:
        settings = (
            Settings(stdio=True) if max_body is None else Settings(stdio=True, max_body=max_body)
        )
        runtime = build([spec], settings, {**os.environ, **(env or {})})
        (adapter,) = runtime.stdio
        to_server, from_client = os.pipe()
        to_client, from_server = os.pipe()
        self._requests = os.fdopen(from_client, "wb")
        self._answers = to_client  # read with os.read into `_pending`, never a buffered file
        self._pending = b""
        wire_in, wire_out = os.fdopen(to_server, "rb"), os.fdopen(from_server, "wb")

        async def main() -> None:
            async with opened(runtime):  # as `serve` opens it before the session
                await serve_session(adapter.server, wire_in, wire_out, adapter.max_body)

        def thread_main() -> None:
            try:
                asyncio.run(main())
            finally:
                wire_out.close()  # the client reads the end of the answers
                wire_in.close()

        self._thread = threading.Thread(target=thread_main, daemon=True)
        self._thread.start()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._answers, selectors.EVENT_READ)

    def send(self, message: Any) -> None:
        self.send_line(json.dumps(message))

    def send_line(self, line: str) -> None:
        self._requests.write(line.encode() + b"\n")
        self._requests.flush()

    def answer(self, message: Any) -> Any:
        self.send(message)
        return self.read()

    def read(self) -> Any:
        line = self._line(READY_TIMEOUT)
        assert line, "the session ended without an answer"
        return json.loads(line)

    def read_line(self) -> bytes:
        """The next answer line as written, b"" once the session has ended."""
        return self._line(None)

    def _line(self, timeout: float | None) -> bytes:
        # Answers are read from the pipe itself into our own buffer: lines that arrived in one
        # burst and sat in a buffered reader would be invisible to `select`, which would then
        # wait for a pipe that has nothing more to say.
        while b"\n" not in self._pending:
            assert self._selector.select(timeout), "no answer on stdout"
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                line, self._pending = self._pending, b""
                return line
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"

    def end_input(self) -> None:
        self._requests.close()

    def close(self) -> list[str]:
        """End the input, as a client closing stdin does; the lines answered after that."""
        if not self._requests.closed:
            self._requests.close()
        self._thread.join(READY_TIMEOUT)
        assert not self._thread.is_alive(), "the session did not end with its input"
        self._selector.close()
        rest = [self._pending]
        while chunk := os.read(self._answers, 1 << 16):
            rest.append(chunk)
        os.close(self._answers)
        return b"".join(rest).decode().splitlines()


@asynccontextmanager
async def sdk_transport(session: StdioSession) -> AsyncIterator[tuple[Any, Any]]:
    """The (read, write) streams an mcp SDK `Client` takes as its transport, carried on the
    session's pipes as the SDK's stdio client carries them on a process's stdin/stdout: each
    message serialised on one line, each answer line parsed back. Leaving it ends the input,
    and so the session."""
    import anyio
    import anyio.to_thread
    from mcp import types
    from mcp.shared.message import SessionMessage

    to_client, client_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    client_writes, from_client = anyio.create_memory_object_stream[SessionMessage](0)

    async def answers() -> None:
        async with to_client:
            while line := await anyio.to_thread.run_sync(session.read_line):
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                await to_client.send(SessionMessage(message))

    async def requests() -> None:
        async with from_client:
            async for sent in from_client:
                session.send_line(sent.message.model_dump_json(by_alias=True, exclude_unset=True))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(answers)
        tasks.start_soon(requests)
        try:
            yield client_reads, client_writes
        finally:
            session.end_input()  # the session ends, its output closes: `answers` returns
            await client_writes.aclose()
