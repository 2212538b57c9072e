"""Large-body benchmark: a 50 MB pass-through response, naftiko vs an aiohttp.web pass-through
that streams the same body (bench/peer_aiohttp_stream.py), alternated round by round.

    python bench/bodies.py [--rounds 3] [--size 50000000] [--parallel 4]

Each round: `--parallel` concurrent downloads (curl, pinned with the upstream to core 1; the
gateway on core 0) of `/big/<size>`; throughput is bytes / wall time of the batch; the extra
resident memory per in-flight request is (peak RSS during the batch - RSS before) / parallel,
sampled every 10 ms. Goals (issue 13, goal 5): < 10 MiB extra per request, throughput
>= 0.9x the peer's (median of per-round ratios).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, free_port, load_average, wait_port

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))


def spec(upstream: str, port: int) -> dict[str, object]:
    return {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Large bodies"},
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "up",
                    "baseUri": upstream,
                    "resources": [
                        {
                            "name": "big",
                            "path": "/big/{{size}}",
                            "operations": [
                                {
                                    "name": "get-big",
                                    "method": "GET",
                                    "inputParameters": [{"name": "size", "in": "path"}],
                                }
                            ],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "bodies",
                    "port": port,
                    "resources": [
                        {
                            "path": "/big/{size}",
                            "name": "big",
                            "inputParameters": [{"name": "size", "in": "path", "type": "string"}],
                            "operations": [
                                {
                                    "method": "GET",
                                    "name": "get-big",
                                    "call": "up.get-big",
                                    "with": {"size": "bodies.size"},
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def batch(pid: int, url: str, size: int, parallel: int) -> tuple[float, float]:
    """(MB/s of `parallel` concurrent downloads, extra MiB of RSS per in-flight download)."""
    before, peak, stop = rss_mib(pid), [0.0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cmd = [*(LOAD_CPU if PIN else []), "curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}"]
    began = time.perf_counter()
    procs = [subprocess.Popen([*cmd, url], stdout=subprocess.PIPE) for _ in range(parallel)]
    sizes = [int(p.communicate()[0] or 0) for p in procs]
    elapsed = time.perf_counter() - began
    stop.set()
    sampler.join()
    if sizes != [size] * parallel or any(p.returncode for p in procs):
        raise RuntimeError(f"incomplete downloads from {url}: {sizes}")
    return size * parallel / elapsed / 1e6, max(peak[0] - before, 0.0) / parallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=50_000_000)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()

    up_port = free_port()
    upstream = subprocess.Popen(
        [*(LOAD_CPU if PIN else []), PYTHON, str(HERE / "upstream.py"), str(up_port)]
    )
    wait_port(up_port)
    up_url = f"http://127.0.0.1:{up_port}"
    ports = {"naftiko": free_port(), "aiohttp": free_port()}
    path = Path(tempfile.mkdtemp()) / "bodies.yaml"
    path.write_text(yaml.safe_dump(spec(up_url, ports["naftiko"]), sort_keys=False))
    commands = {
        "naftiko": [NAFTIKO, "run", "--log-level", "warning", str(path)],
        "aiohttp": [PYTHON, str(HERE / "peer_aiohttp_stream.py"), str(ports["aiohttp"]), up_url],
    }
    speed: dict[str, list[float]] = {name: [] for name in commands}
    extra: dict[str, list[float]] = {name: [] for name in commands}
    loads = [load_average()]
    try:
        for round_ in range(args.rounds):
            names = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
            for name in names:
                proc = subprocess.Popen(
                    [*(GATEWAY_CPU if PIN else []), *commands[name]],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    wait_port(ports[name])
                    url = f"http://127.0.0.1:{ports[name]}/big/{args.size}"
                    batch(proc.pid, url, args.size, 1)  # warm-up: pools, first-call paths
                    mbs, mib = batch(proc.pid, url, args.size, args.parallel)
                    speed[name].append(mbs)
                    extra[name].append(mib)
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    ratios = [n / a for n, a in zip(speed["naftiko"], speed["aiohttp"], strict=True)]
    print(
        f"| {args.size / 1e6:.0f} MB pass-through, {args.parallel} in flight | MB/s "
        f"(median of {args.rounds}) | vs aiohttp (median of ratios) | extra RSS per request |"
    )
    print("|---|---:|---:|---:|")
    for name in commands:
        ratio = statistics.median(ratios) if name == "naftiko" else 1.0
        print(
            f"| {name} | {statistics.median(speed[name]):,.0f} | {ratio:.2f}x | "
            f"{statistics.median(extra[name]):.1f} MiB |"
        )
    print(f"\nper-round naftiko/aiohttp: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()
