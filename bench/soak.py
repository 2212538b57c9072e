"""Soak: many REST and MCP calls through `naftiko run` over the faulty upstream (a fault every
50th call), watching the gateway's RSS and descriptors for growth. Loopback only; bounded in
count and in time.

    python bench/soak.py [--rest 200000] [--mcp 30000] [--concurrency 32] [--max-seconds 900]

Prints, per phase: calls, unexpected outcomes, calls/s, RSS (MiB) after every tenth of the
calls, and descriptors before / after.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.faulty import (
    SECRET,
    faulty_spec,
    faulty_upstream,
    open_fds,
    rss_mib,
    settled_fds,
)
from tests.support.process import Running, naftiko_run

# Every 50th call is one of these faults; the rest succeed. (path, expected status)
REST_FAULTS = [
    ("/f/500/x", 500),
    ("/f/reset/x", 502),
    ("/f/html/x", 502),
    ("/f/huge/100000000", 502),
    ("/m/midclose/x", 502),
    ("/f/secret/9", 200),
]
MCP_FAULTS = [("500", True), ("reset", True), ("huge", True), ("secret", False)]


async def phase(
    running: Running,
    name: str,
    total: int,
    concurrency: int,
    deadline: float,
    call: Callable[[aiohttp.ClientSession, int], Awaitable[bool]],
) -> dict[str, Any]:
    """One client session per phase, closed before the descriptors are counted again."""
    pid = running.process.pid
    fds = open_fds(pid)
    rss = [rss_mib(pid)]
    issued = 0
    unexpected: collections.Counter[str] = collections.Counter()
    step = max(total // 10, 1)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < total and time.monotonic() < deadline:
            i = issued
            issued += 1
            try:
                if not await call(session, i):
                    unexpected["wrong answer"] += 1
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                unexpected[type(exc).__name__] += 1
            if (i + 1) % step == 0:
                rss.append(rss_mib(pid))

    began = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "phase": name,
        "calls": issued,
        "unexpected": dict(unexpected),
        "per_second": issued / elapsed,
        "rss": rss,
        # The upstream pool keeps idle connections for 15 s, closed by a sweep every 15 s.
        "fds": (fds, settled_fds(pid, fds, bound=35.0)),
    }


async def soak(running: Running, args: argparse.Namespace) -> list[dict[str, Any]]:
    rest, mcp = running.url("limits-rest"), running.url("limits-mcp")
    deadline = time.monotonic() + args.max_seconds

    async def rest_call(session: aiohttp.ClientSession, i: int) -> bool:
        path, expected = ("/f/ok/x", 200) if i % 50 else REST_FAULTS[i // 50 % len(REST_FAULTS)]
        async with session.get(rest + path) as response:
            body = await response.read()
            return response.status == expected and SECRET.encode() not in body

    async def mcp_call(session: aiohttp.ClientSession, i: int) -> bool:
        fault, error = ("ok", False) if i % 50 else MCP_FAULTS[i // 50 % len(MCP_FAULTS)]
        arg = "100000000" if fault == "huge" else "9"
        message = {
            "jsonrpc": "2.0",
            "id": i,
            "method": "tools/call",
            "params": {"name": "fault", "arguments": {"fault": fault, "arg": arg}},
        }
        async with session.post(mcp, json=message) as response:
            body = await response.read()
            result = (await response.json())["result"] if response.status == 200 else {}
            return result.get("isError") is error and SECRET.encode() not in body

    return [
        await phase(running, "REST", args.rest, args.concurrency, deadline, rest_call),
        await phase(running, "MCP", args.mcp, args.concurrency, deadline, mcp_call),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rest", type=int, default=200_000)
    parser.add_argument("--mcp", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    with faulty_upstream() as upstream, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
        spec = faulty_spec(Path(tempfile.mkdtemp()), upstream.url, refused)
        env = {"LIMITS_SECRET": SECRET}
        flags = ("--log-level", "warning")
        with naftiko_run(spec, args=flags, env=env, adapters=3) as running:
            rss_start = rss_mib(running.process.pid)
            rows = asyncio.run(soak(running, args))
            errors = [line for line in running.logs().splitlines() if " ERROR " in line]
            tracebacks = running.logs().count("Traceback")
    print(f"RSS at start: {rss_start:.0f} MiB")
    for row in rows:
        rss = " ".join(f"{v:.0f}" for v in row["rss"])
        print(
            f"{row['phase']}: {row['calls']} calls, {row['per_second']:.0f}/s, unexpected "
            f"{row['unexpected'] or 'none'}; RSS MiB {rss}; FDs {row['fds'][0]} -> {row['fds'][1]}"
        )
    print(f"ERROR lines: {len(errors)}, tracebacks: {tracebacks}")


if __name__ == "__main__":
    main()
