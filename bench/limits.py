"""Resource limits under faults: each misbehaving upstream or client against `naftiko run`, with
a probe on another route meanwhile. Loopback only; every loop bounded in count and time.

    python bench/limits.py [--requests 64] [--concurrency 16]

For each fault: the statuses the callers got, their p99 latency, the probe's p99 and failures,
the gateway's RSS before / peak / after and its open descriptors before / after (settled).
Also: how close `--timeout 5` fires to 5 s, and how fast an idle gateway exits on SIGTERM
with a stalled client connected. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.faulty import (
    SECRET,
    Faulty,
    faulty_spec,
    faulty_upstream,
    open_fds,
    rss_mib,
    settled_fds,
)
from tests.support.process import NAFTIKO, Running, naftiko_run

FLAGS = ("--timeout", "5", "--log-level", "warning")


class Sampler:
    """The gateway's peak RSS, sampled every 20 ms while a fault runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mib(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[str, float]:
    began = time.perf_counter()
    try:
        outcome = str(await call())
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        outcome = type(exc).__name__
    return outcome, time.perf_counter() - began


async def get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        size = 0
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
        return response.status


async def raw(url: str, data: bytes, hold: float = 0.0) -> str:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for i in range(0, len(data), 1 << 20):
            writer.write(data[i : i + (1 << 20)])
            await writer.drain()
        if hold:
            await asyncio.sleep(hold)
        head = await asyncio.wait_for(reader.read(64), 30)
        return head.split(b" ", 2)[1].decode() if head else "closed"
    except (ConnectionError, OSError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def fault(
    running: Running, name: str, calls: list[Callable[[], Awaitable[Any]]], concurrency: int
) -> dict[str, Any]:
    pid = running.process.pid
    rest = running.url("limits-rest")
    rss, fds = rss_mib(pid), open_fds(pid)
    gate = asyncio.Semaphore(concurrency)
    probes: list[tuple[str, float]] = []
    done = asyncio.Event()

    async def one(call: Callable[[], Awaitable[Any]]) -> tuple[str, float]:
        async with gate:
            return await timed(call)

    async def probe(session: aiohttp.ClientSession) -> None:
        while not done.is_set() and len(probes) < 2000:
            probes.append(await timed(lambda: get(session, rest + "/f/ok/x")))
            await asyncio.sleep(0.02)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as probe_session:
        with Sampler(pid) as sampler:
            prober = asyncio.create_task(probe(probe_session))
            results = await asyncio.gather(*(one(c) for c in calls))
            done.set()
            await prober
    statuses = collections.Counter(status for status, _ in results)
    return {
        "fault": name,
        "statuses": ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())),
        "p99": p99([t for _, t in results]),
        "probe_p99": p99([t for _, t in probes]),
        "probe_failures": ", ".join(
            f"{k} x{v}" for k, v in sorted(collections.Counter(s for s, _ in probes).items())
        ),
        "rss": (rss, sampler.peak, rss_mib(pid)),
        "fds": (fds, settled_fds(pid, fds)),
    }


async def run_faults(running: Running, requests: int, concurrency: int) -> list[dict[str, Any]]:
    rest, mcp = running.url("limits-rest"), running.url("limits-mcp")
    rows = []
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
    ) as session:

        def gets(path: str, n: int = requests) -> list[Callable[[], Awaitable[Any]]]:
            return [lambda: get(session, rest + path)] * n

        async def mcp_call() -> int:
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
            call["params"] = {"name": "fault", "arguments": {"fault": "huge", "arg": "100000000"}}
            async with session.post(mcp, json=call) as response:
                await response.read()
                return response.status

        upstream_faults: list[tuple[str, list[Callable[[], Awaitable[Any]]]]] = [
            ("ok (baseline)", gets("/f/ok/x")),
            ("slow 200 ms", gets("/f/slow/200")),
            ("hang (--timeout 5)", gets("/f/hang/x", concurrency)),
            ("500", gets("/f/500/x")),
            ("reset", gets("/f/reset/x")),
            ("HTML for JSON", gets("/f/html/x")),
            ("declared 100 MB", gets("/f/huge/100000000")),
            # Streamed first: the buffered row below leaves glibc holding its peak.
            ("endless, pass-through (streamed, cut)", gets("/f/endless/x", concurrency)),
            ("50 MB pass-through, streamed (4 at a time)", gets("/f/stream/50000000", 8)),
            ("endless, mapped (buffered to 64 MiB)", gets("/m/endless/x", concurrency)),
            ("mid-body close", gets("/m/midclose/x")),
            ("refused", gets("/refused")),
            ("MCP tool, 100 MB body", [mcp_call] * requests),
        ]
        for name, calls in upstream_faults:
            width = 4 if name.startswith("50 MB") else concurrency
            rows.append(await fault(running, name, calls, width))
        request = b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        client_faults: list[tuple[str, list[Callable[[], Awaitable[Any]]], int]] = [
            ("1,100 idle connections", [lambda: raw(rest, b"")] * 1100, 1100),
            ("200 slowloris (partial headers)", [lambda: raw(rest, request)] * 200, 200),
            ("128 MiB header", [lambda: raw(rest, request + b"X: " + b"a" * (128 << 20))], 1),
            (
                "declared 1 GB body",
                [
                    lambda: raw(
                        rest,
                        b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Length: 1000000000\r\n\r\n",
                    )
                ]
                * requests,
                concurrency,
            ),
            (
                "stalled upload",
                [
                    lambda: raw(
                        rest,
                        b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{",
                    )
                ]
                * 100,
                100,
            ),
        ]
        for name, calls, width in client_faults:
            rows.append(await fault(running, name, calls, width))
    return rows


def timeout_precision(running: Running, upstream: Faulty) -> list[float]:
    """Seconds past 5 at which `--timeout 5` answered, over 5 hung calls (one at a time)."""
    import urllib.error
    import urllib.request

    late = []
    for _ in range(5):
        began = time.perf_counter()
        try:
            urllib.request.urlopen(running.url("limits-rest") + "/f/hang/x", timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 504
        late.append(time.perf_counter() - began - 5.0)
    return late


def fd_budget(folder: Path, upstream: Faulty) -> dict[str, Any]:
    """The gateway started with only 256 descriptors, then 1,100 idle connections: those past
    the per-port share are answered 503 (said once at ERROR); a probe still gets an answer."""
    spec = faulty_spec(folder, upstream.url, upstream.url)
    command = ["prlimit", "--nofile=256:256", NAFTIKO, "run", *FLAGS, str(spec)]
    env = {**os.environ, "LIMITS_SECRET": SECRET}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    urls: dict[str, str] = {}
    assert process.stdout is not None
    while len(urls) < 3:
        parts = process.stdout.readline().split()
        if len(parts) == 3 and parts[2].startswith("http://"):
            urls[parts[1]] = parts[2]
    rest = urls["limits-rest"]
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    fds_before = open_fds(process.pid)
    answers: collections.Counter[str] = collections.Counter()
    held = []
    for _ in range(1100):
        conn = socket.create_connection((host, int(port)), timeout=5)
        held.append(conn)
    fds_peak = open_fds(process.pid)
    for conn in held:
        conn.setblocking(False)
        try:
            head = conn.recv(64)
            answers[head.split(b" ", 2)[1].decode() if head else "closed"] += 1
        except BlockingIOError:
            answers["held open"] += 1
        conn.close()
    import urllib.error
    import urllib.request

    try:
        probe = str(urllib.request.urlopen(rest + "/f/ok/x", timeout=10).status)
    except urllib.error.HTTPError as exc:
        probe = str(exc.code)
    fds_after = settled_fds(process.pid, fds_before)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    return {
        "answers": dict(answers),
        "probe": probe,
        "fds": (fds_before, fds_peak, fds_after),
        "errors": errors,
    }


def caller_leaves(folder: Path, upstream: Faulty) -> int:
    """CPU ticks the gateway spends in the 2 s after a caller leaves an endless pass-through
    stream (limit and timeout far away): 0 when it stops reading the upstream."""
    spec = faulty_spec(folder, upstream.url, upstream.url)
    flags = ("--timeout", "60", "--max-upstream-body", str(10**12), "--log-level", "warning")
    with naftiko_run(spec, args=flags, env={"LIMITS_SECRET": SECRET}, adapters=3) as running:
        host, port = running.url("limits-rest").removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"GET /f/endless/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            conn.recv(65536)
        stat = Path(f"/proc/{running.process.pid}/stat")

        def ticks() -> int:
            fields = stat.read_text().split()
            return int(fields[13]) + int(fields[14])

        before = ticks()
        time.sleep(2)
        return ticks() - before


def idle_exit(folder: Path, upstream: Faulty) -> float:
    """Seconds from SIGTERM to exit, a stalled client (half a header) connected."""
    spec = faulty_spec(folder, upstream.url, upstream.url)
    with naftiko_run(spec, args=FLAGS, env={"LIMITS_SECRET": SECRET}, adapters=3) as running:
        host, port = running.url("limits-rest").removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as stalled:
            stalled.sendall(b"GET /f/ok/x HTTP/1.1\r\n")
            time.sleep(0.5)
            began = time.perf_counter()
            running.process.send_signal(signal.SIGTERM)
            running.process.wait(30)
            return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    with faulty_upstream() as upstream, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        spec = faulty_spec(folder, upstream.url, f"http://127.0.0.1:{closed.getsockname()[1]}")
        env = {"LIMITS_SECRET": SECRET}
        with naftiko_run(spec, args=FLAGS, env=env, adapters=3) as running:
            rows = asyncio.run(run_faults(running, args.requests, args.concurrency))
            late = timeout_precision(running, upstream)
            stderr = running.logs()
        exit_seconds = idle_exit(Path(tempfile.mkdtemp()), upstream)
        budget = fd_budget(Path(tempfile.mkdtemp()), upstream)
        left = caller_leaves(Path(tempfile.mkdtemp()), upstream)
    print(
        "| fault | statuses | p99 s | probe p99 s (statuses) |"
        " RSS MiB before/peak/after | FDs before/after |"
    )
    print("| --- | --- | ---: | ---: | --- | --- |")
    for r in rows:
        rss = "/".join(f"{v:.0f}" for v in r["rss"])
        print(
            f"| {r['fault']} | {r['statuses']} | {r['p99']:.3f} | "
            f"{r['probe_p99']:.3f} ({r['probe_failures']}) | {rss} | {r['fds'][0]}/{r['fds'][1]} |"
        )
    print(f"\n`--timeout 5` fired late by: {', '.join(f'{x * 1000:.0f} ms' for x in late)}")
    print(f"idle gateway, stalled client connected: exit {exit_seconds:.2f} s after SIGTERM")
    print(
        f"256 descriptors, 1,100 idle connections: {budget['answers']}; probe after: "
        f"{budget['probe']}; FDs before/peak/after {budget['fds']}; ERROR lines: {budget['errors']}"
    )
    print(f"caller left an endless stream: gateway CPU ticks in the next 2 s: {left}")
    print(f"tracebacks in the gateway's log: {stderr.count('Traceback')}")
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    print(f"ERROR lines in the gateway's log: {len(errors)}")
    for line in errors[:5]:
        print("    " + line)


if __name__ == "__main__":
    main()
