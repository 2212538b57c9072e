"""Server benchmark: the same naftiko REST app (bench/asgi_seed.py) on granian and on uvicorn,
next to `naftiko run` itself and the aiohttp.web pass-through, alternated round by round.

    python bench/servers.py [--rounds 3] [--duration 4]

Needs granian in the running venv (`pip install granian`; it is not a naftiko dependency).
Pinned like bench/rest.py. The figure that decides (issue 13, goal 1) is granian / uvicorn on
the same app: the server's share of a request, with naftiko's own work held fixed. CPU per
request (user + system of the server's processes / requests) is shown beside throughput: on a
shared, loaded machine a process with more threads (granian's Rust runtime) gets more of a
contended core, which req/s alone would credit to the server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, cpu_seconds, free_port, load_average
from rest import PATH, SEED, start, wrk

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    up_port = free_port()
    upstream, _ = start(
        [*(LOAD_CPU if PIN else []), sys.executable, str(HERE / "upstream.py"), str(up_port)],
        up_port,
    )
    up_url = f"http://127.0.0.1:{up_port}"
    data = yaml.safe_load(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = up_url
    port = free_port()
    data["capability"]["exposes"][0]["port"] = port
    # The REST adapter alone: bench/ is on the servers' path, and its mcp.py would hide the SDK.
    data["capability"]["exposes"] = data["capability"]["exposes"][:1]
    spec = Path(tempfile.mkdtemp()) / "seed.yaml"
    spec.write_text(yaml.safe_dump(data))
    where = ["--host", "127.0.0.1", "--port", str(port)]
    commands = {
        "naftiko run (uvicorn + serving.py)": [
            str(BIN / "naftiko"),
            "run",
            "--log-level",
            "warning",
            str(spec),
        ],
        "same app on uvicorn (uvloop, httptools)": [
            str(BIN / "uvicorn"),
            *where,
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--no-server-header",
            "--no-date-header",
            "asgi_seed:app",
        ],
        "same app on granian (ASGI, 1 worker)": [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            *where,
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-ws",
            "--log-level",
            "warning",
            "asgi_seed:app",
        ],
        "aiohttp.web pass-through": [
            sys.executable,
            str(HERE / "peer_aiohttp.py"),
            str(port),
            up_url + "/openai",
        ],
    }
    env = {"GROQ_API_KEY": "bench-token", "NAFTIKO_SPEC": str(spec), "PYTHONPATH": str(HERE)}
    results: dict[str, list[float]] = {name: [] for name in commands}
    cpu_us: dict[str, list[float]] = {name: [] for name in commands}
    loads = [load_average()]
    try:
        for round_ in range(args.rounds):
            names = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
            for name in names:
                proc, _ = start([*(GATEWAY_CPU if PIN else []), *commands[name]], port, env)
                try:
                    wrk(port, 1, args.connections)
                    before = cpu_seconds(proc.pid)
                    rate = wrk(port, args.duration, args.connections)
                    used = cpu_seconds(proc.pid) - before
                    results[name].append(rate)
                    cpu_us[name].append(used / (rate * args.duration) * 1e6)
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    peer = results["aiohttp.web pass-through"]
    uv = results["same app on uvicorn (uvloop, httptools)"]
    print(
        f"| server ({PATH}) | req/s (median of {args.rounds}) | vs aiohttp "
        "| vs same app on uvicorn | server CPU per request |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        to_peer = statistics.median(v / p for v, p in zip(values, peer, strict=True))
        to_uv = statistics.median(v / u for v, u in zip(values, uv, strict=True))
        cpu = statistics.median(cpu_us[name])
        print(
            f"| {name} | {statistics.median(values):,.0f} | {to_peer:.2f}x | {to_uv:.2f}x "
            f"| {cpu:.0f} µs |"
        )
    print(f"\npinned: {PIN}; load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()
