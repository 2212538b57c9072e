"""REST gateway benchmark: naftiko (the seed) vs pass-through peers, same load, alternated.

    python bench/rest.py [--rounds 3] [--duration 5] [--connections 32]

Needs `wrk` (Debian package). Prints a markdown table: requests/s per gateway (median of the
rounds), the ratio to the aiohttp pass-through, naftiko's cold start and resident memory.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, cpu_seconds, free_port, load_average, wait_port

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "examples" / "groq-batch.yaml"
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
PATH = "/v1/openai/v1/batches/batch_01"
# The gateway under test gets core 0 to itself; the upstream and wrk share core 1. Without
# pinning, three busy processes on two cores make single rounds vary by +-20%.


def start(
    cmd: list[str], port: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], float]:
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    wait_port(port)
    return proc, time.perf_counter() - began


def wrk(port: int, duration: int, connections: int) -> float:
    return wrk_url(f"http://127.0.0.1:{port}{PATH}", duration, connections)


def wrk_url(url: str, duration: int, connections: int) -> float:
    """Requests/s of `wrk -t1` on `url` (pinned to the load core); any non-2xx is an error."""
    out = subprocess.run(
        [*(LOAD_CPU if PIN else []), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"errors under load on {url}: {out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--unpinned", action="store_true", help="no taskset (goal: >= 0.9x)")
    args = parser.parse_args()
    global PIN
    PIN = PIN and not args.unpinned
    loads = [load_average()]

    up_port = free_port()
    upstream_cmd = [PYTHON, str(HERE / "upstream.py"), str(up_port)]
    upstream, _ = start([*(LOAD_CPU if PIN else []), *upstream_cmd], up_port)
    up_url = f"http://127.0.0.1:{up_port}"
    tmp = Path(tempfile.mkdtemp())
    data = yaml.safe_load(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = up_url
    ports = {"naftiko": free_port(), "aiohttp": free_port(), "httpx2": free_port()}
    ports["naftiko (access log)"] = ports["naftiko"]  # the same spec, run one after the other
    data["capability"]["exposes"][0]["port"] = ports["naftiko"]
    data["capability"]["exposes"][1]["port"] = free_port()
    spec = tmp / "seed.yaml"
    spec.write_text(yaml.safe_dump(data))
    commands = {
        "naftiko": [NAFTIKO, "run", "--log-level", "warning", str(spec)],
        # The default: one access line per request (buffered, logbuffer.py) to /dev/null.
        "naftiko (access log)": [NAFTIKO, "run", str(spec)],
        "aiohttp": [
            PYTHON,
            str(HERE / "peer_aiohttp.py"),
            str(ports["aiohttp"]),
            up_url + "/openai",
        ],
        "httpx2": [PYTHON, str(HERE / "peer_httpx.py"), str(ports["httpx2"]), up_url + "/openai"],
    }
    env = {"GROQ_API_KEY": "bench-token"}
    results: dict[str, list[float]] = {name: [] for name in commands}
    # CPU per request (user + system / requests): what a loaded, shared machine blurs least.
    cpu_us: dict[str, list[float]] = {name: [] for name in commands}
    cold: list[float] = []
    rss: list[float] = []
    try:
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                proc, startup = start([*(GATEWAY_CPU if PIN else []), *cmd], ports[name], env)
                try:
                    wrk(ports[name], 1, args.connections)  # warm-up
                    before = cpu_seconds(proc.pid)
                    rate = wrk(ports[name], args.duration, args.connections)
                    used = cpu_seconds(proc.pid) - before
                    results[name].append(rate)
                    cpu_us[name].append(used / (rate * args.duration) * 1e6)
                    if name == "naftiko":
                        cold.append(startup)
                        rss.append(rss_mb(proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    print(
        f"| gateway | req/s (median of {args.rounds}) | vs aiohttp (median of ratios) "
        "| CPU per request | aiohttp's CPU / this one's |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        median = statistics.median(values)
        ratio = statistics.median(v / a for v, a in zip(values, results["aiohttp"], strict=True))
        cpu = statistics.median(cpu_us[name])
        by_cpu = statistics.median(
            a / c for c, a in zip(cpu_us[name], cpu_us["aiohttp"], strict=True)
        )
        print(f"| {name} | {median:,.0f} | {ratio:.2f}x | {cpu:.0f} µs | {by_cpu:.2f}x |")
    print()
    for name in ("naftiko", "naftiko (access log)"):
        ratios = [n / a for n, a in zip(results[name], results["aiohttp"], strict=True)]
        print(
            f"{name} / aiohttp per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"median {statistics.median(ratios):.2f}x"
        )
    print(f"naftiko cold start (command to port open): median {statistics.median(cold):.2f} s")
    print(f"naftiko resident memory after load: {statistics.median(rss):.0f} MiB")
    print(f"pinned: {PIN}; load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()
