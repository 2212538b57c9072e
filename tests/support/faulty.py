"""A misbehaving upstream: a raw asyncio server on loopback whose first path segment picks the
fault (slow, hang, 500, reset, HTML, huge, endless, mid-body close, a secret split across
chunks). Raw, so it can break HTTP in ways no framework would let it."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.process import Running, naftiko_run
from tests.support.raw_answers import RAW_ANSWERS
from tests.support.yamlio import dump_yaml

SECRET = "sk-limits-0123456789abcdef"
_CHUNK = 64 * 1024


@dataclass
class Faulty:
    url: str
    attempts: Counter[str] = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    hung_up: int = 0  # `hang` requests whose connection the gateway closed


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Faulty) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, target, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            parts = target.split("?", 1)[0].strip("/").split("/")
            seen.attempts[parts[0]] += 1
            seen.bodies.append(body)
            if not await _answer(parts, reader, writer):
                seen.hung_up += parts[0] == "hang"
                return
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    except asyncio.CancelledError:
        pass  # teardown: a hanging answer ends with the test's upstream
    finally:
        writer.close()


def _head(status: str, kind: str, length: int | None) -> bytes:
    size = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    return f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\n{size}\r\n\r\n".encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _answer(
    parts: list[str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """Answer one request; False when the connection must end."""
    fault, arg = parts[0], (parts[1] if len(parts) > 1 else "")
    if fault == "slow":
        await asyncio.sleep(int(arg) / 1000)
    if fault == "hang":
        await reader.read()  # no answer, ever: until the gateway gives up and closes
        return False
    if fault == "reset":
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if fault == "500":
        body = b'{"error":"boom"}'
        writer.write(_head("500 Internal Server Error", "application/json", len(body)) + body)
    elif fault == "raw":  # an answer no framework would send, byte for byte
        writer.write(RAW_ANSWERS[arg])
    elif fault == "html":
        body = b"<html><body>maintenance</body></html>"
        writer.write(_head("200 OK", "text/html", len(body)) + body)
    elif fault == "huge":  # a declared length past any limit, then the bytes themselves
        size = int(arg)
        writer.write(_head("200 OK", "application/json", size) + b'{"pad":"')
        await _pad(writer, size - 10)
        writer.write(b'"}')
    elif fault in ("endless", "stream"):  # chunked JSON: without end, or of `arg` bytes
        writer.write(_head("200 OK", "application/json", None) + _chunk(b"[0"))
        remaining = int(arg) if fault == "stream" else -1
        while remaining != 0:
            piece = min(_CHUNK, remaining) if remaining > 0 else _CHUNK
            writer.write(_chunk(b",0" * (piece // 2)))
            remaining = max(remaining - piece, 0) if remaining > 0 else -1
            await writer.drain()
        writer.write(_chunk(b"]") + b"0\r\n\r\n")
    elif fault == "midclose":
        writer.write(_head("200 OK", "application/json", 100_000) + b'{"cut":"' + b"x" * 1000)
        await writer.drain()
        return False
    elif fault == "secret":  # the bound secret echoed, split across two chunks
        cut = int(arg)
        text = f'{{"echo":"{SECRET}"}}'.encode()
        writer.write(_head("200 OK", "application/json", None) + _chunk(text[:cut]))
        await writer.drain()
        await asyncio.sleep(0.05)  # two reads on the gateway's side, not one
        writer.write(_chunk(text[cut:]) + b"0\r\n\r\n")
    else:
        body = b'{"ok":true}'
        writer.write(_head("200 OK", "application/json", len(body)) + body)
    await writer.drain()
    return True


async def _pad(writer: asyncio.StreamWriter, size: int) -> None:
    block = b"x" * _CHUNK
    while size > 0:
        writer.write(block[: min(size, _CHUNK)])
        size -= _CHUNK
        await writer.drain()


@contextmanager
def faulty_upstream() -> Iterator[Faulty]:
    """The faulty upstream on 127.0.0.1:<ephemeral>, served from a background loop."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    seen = Faulty("")
    holder: dict[str, asyncio.Server] = {}

    async def start() -> None:
        server = await asyncio.start_server(
            lambda r, w: _handle(r, w, seen), "127.0.0.1", 0, limit=1 << 20
        )
        holder["server"] = server
        seen.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("faulty upstream did not start")
    try:
        yield seen
    finally:

        async def stop() -> None:
            holder["server"].close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def faulty_spec(folder: Path, upstream: str, refused: str) -> Path:
    """REST (pass-through `/f/...`, mapped `/m/...`, `/record`, `/refused`), MCP tools over the
    same operations, and a control port; every adapter on an ephemeral port."""
    path_inputs = [
        {"name": "fault", "in": "path", "type": "string"},
        {"name": "arg", "in": "path", "type": "string"},
    ]
    consumes = [
        {
            "namespace": "faulty",
            "type": "http",
            "baseUri": upstream,
            "authentication": {"type": "bearer", "token": "{{LIMITS_SECRET}}"},
            "resources": [
                {
                    "name": "fault",
                    "path": "/{{fault}}/{{arg}}",
                    "operations": [
                        {"name": "get", "method": "GET", "inputParameters": path_inputs},
                        {
                            "name": "get-mapped",
                            "method": "GET",
                            "inputParameters": path_inputs,
                            "outputParameters": [
                                {"name": "ok", "type": "boolean", "value": "$.ok"}
                            ],
                        },
                    ],
                },
                {
                    "name": "record",
                    "path": "/record",
                    "operations": [
                        {
                            "name": "record",
                            "method": "POST",
                            "inputParameters": [{"name": "body", "in": "body", "type": "object"}],
                        }
                    ],
                },
            ],
        },
        {
            "namespace": "refused",
            "type": "http",
            "baseUri": refused,
            "resources": [
                {"name": "r", "path": "/", "operations": [{"name": "get", "method": "GET"}]}
            ],
        },
    ]
    rest_inputs = [
        {"name": "fault", "in": "path", "type": "string"},
        {"name": "arg", "in": "path", "type": "string"},
    ]
    with_path = {"fault": "rest.fault", "arg": "rest.arg"}
    rest = {
        "type": "rest",
        "namespace": "limits-rest",
        "port": 0,
        "resources": [
            {
                "path": "/f/{fault}/{arg}",
                "name": "f",
                "operations": [
                    {
                        "method": "GET",
                        "name": "f",
                        "call": "faulty.get",
                        "with": with_path,
                        "inputParameters": rest_inputs,
                    }
                ],
            },
            {
                "path": "/m/{fault}/{arg}",
                "name": "m",
                "operations": [
                    {
                        "method": "GET",
                        "name": "m",
                        "call": "faulty.get-mapped",
                        "with": with_path,
                        "inputParameters": rest_inputs,
                        "outputParameters": [{"name": "ok", "type": "boolean", "mapping": "$.ok"}],
                    }
                ],
            },
            {
                "path": "/record",
                "name": "record",
                "operations": [
                    {
                        "method": "POST",
                        "name": "record",
                        "call": "faulty.record",
                        "with": {"body": "rest.body"},
                    }
                ],
            },
            {
                "path": "/refused",
                "name": "refused",
                "operations": [{"method": "GET", "name": "refused", "call": "refused.get"}],
            },
        ],
    }
    mcp = {
        "type": "mcp",
        "namespace": "limits-mcp",
        "port": 0,
        "transport": "http",
        "tools": [
            {
                "name": "fault",
                "description": "One fault of the upstream.",
                "call": "faulty.get",
                "with": {"fault": "tools.fault", "arg": "tools.arg"},
                "inputParameters": [
                    {"name": "fault", "type": "string", "required": True},
                    {"name": "arg", "type": "string", "required": True},
                ],
            },
            {
                "name": "record",
                "description": "Send a body upstream.",
                "call": "faulty.record",
                "with": {"body": "tools.body"},
                "inputParameters": [{"name": "body", "type": "object", "required": True}],
            },
        ],
    }
    document = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Limits"},
        "binds": [{"namespace": "env", "keys": {"LIMITS_SECRET": "LIMITS_SECRET"}}],
        "capability": {
            "consumes": consumes,
            "exposes": [rest, mcp, {"type": "control", "port": 0}],
        },
    }
    spec = folder / "limits.yaml"
    spec.write_text(dump_yaml(document, sort_keys=False))
    return spec


LIMIT_FLAGS = (
    "--timeout", "1",
    "--max-upstream-body", str(1024 * 1024),
    # The smallest values that still prove the 408s without a loaded machine tripping them.
    "--header-timeout", "0.5",
    "--body-timeout", "0.5",
    "--keepalive-timeout", "5",
    "--max-header-bytes", "8192",
    "--max-connections", "20",
    "--max-body", str(6 * 1024 * 1024),
)  # fmt: skip


@contextmanager
def limits_gateway(folder: Path, *extra: str) -> Iterator[tuple[Running, Faulty]]:
    """`naftiko run` with small limits over the faulty upstream (and a refused port)."""
    with faulty_upstream() as upstream, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
        spec = faulty_spec(folder, upstream.url, refused)
        env = {"LIMITS_SECRET": SECRET}
        with naftiko_run(spec, args=(*LIMIT_FLAGS, *extra), env=env, adapters=3) as running:
            yield running, upstream


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int, baseline: int, bound: float = 10.0) -> int:
    """The gateway's descriptor count once it is back at `baseline` (or after `bound` s):
    sockets close asynchronously after the answer, so the count is polled, not sampled."""
    deadline = time.monotonic() + bound
    count = open_fds(pid)
    while count > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
        count = open_fds(pid)
    return count


def raw_exchange(url: str, data: bytes, bound: float = 10.0) -> bytes:
    """Send `data` on a new connection, then read until the gateway closes it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=bound) as conn:
        if data:
            conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received
