"""Instructions per REST request (callgrind): naftiko on the seed vs the aiohttp.web peer.

    python bench/instructions.py [--requests 1000] [--connections 32]

On a shared machine req/s and even CPU per request move with the neighbours (single rounds
of rest.py vary by a third); the number of instructions a request costs does not. Each
gateway runs under `valgrind --tool=callgrind` (about 50x slower, so a fixed number of
requests, not a duration); after a warm-up the counters are zeroed, `--requests` requests
are sent on `--connections` keep-alive connections at once (as rest.py's wrk does: what 32
requests in flight hold is what made the cycle collector run every ~20 requests, invisible
one request at a time), and the counters are dumped. Needs `valgrind`
(Debian package). It counts instructions, not time: system calls and cache misses are
outside it, so it complements rest.py rather than replacing it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from _ports import free_port, wait_port

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "examples" / "groq-batch.yaml"
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
PATH = "/v1/openai/v1/batches/batch_01"


def burst(port: int, count: int, connections: int) -> None:
    """`count` requests, `connections` of them in flight at any time, each on its own
    keep-alive connection (a thread of this process each: the gateway is the slow side)."""

    def one_connection(share: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for _ in range(share):
                connection.request("GET", PATH)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{PATH} answered {answer.status}")
        finally:
            connection.close()

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one_connection, shares))


def instructions(cmd: list[str], port: int, count: int, connections: int, folder: Path) -> float:
    """Instructions per request of the server `cmd` starts on `port`."""
    out = folder / f"callgrind.{port}"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GROQ_API_KEY": "bench-token"},
    )
    try:
        wait_port(port, 300)
        burst(port, 200, connections)  # warm-up: imports, pools, caches
        subprocess.run(
            ["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True
        )
        burst(port, count, connections)
        subprocess.run(
            ["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True
        )
    finally:
        proc.terminate()
        proc.wait(120)
    totals = [
        int(line.split()[1])
        for dump in folder.glob(f"callgrind.{port}*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith("totals:")
    ]
    # The dump holds the requests; the file written at exit only the shutdown.
    return max(totals) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    up_port = free_port()
    upstream = subprocess.Popen(
        [PYTHON, str(HERE / "upstream.py"), str(up_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(up_port)
        data = yaml.safe_load(SEED.read_text())
        data["capability"]["consumes"][0]["baseUri"] = f"http://127.0.0.1:{up_port}"
        port = free_port()
        data["capability"]["exposes"][0]["port"] = port
        data["capability"]["exposes"][1]["port"] = free_port()
        spec = folder / "seed.yaml"
        spec.write_text(yaml.safe_dump(data))
        peer = [
            PYTHON,
            str(HERE / "peer_aiohttp.py"),
            str(port),
            f"http://127.0.0.1:{up_port}/openai",
        ]
        runs = {
            "aiohttp.web pass-through": peer,
            "naftiko": [NAFTIKO, "run", "--log-level", "warning", str(spec)],
            "naftiko (access log)": [NAFTIKO, "run", str(spec)],
        }
        counts = {
            name: instructions(cmd, port, args.requests, args.connections, folder)
            for name, cmd in runs.items()
        }
    finally:
        upstream.terminate()
        upstream.wait(10)
    peer_count = counts["aiohttp.web pass-through"]
    print("| gateway | instructions per request | aiohttp's / this one's |")
    print("|---|---:|---:|")
    for name, count in counts.items():
        print(f"| {name} | {count / 1000:,.0f}k | {peer_count / count:.2f}x |")
    print(
        f"\n{args.requests} requests each, {args.connections} in flight, after 200 of warm-up; "
        "counted with callgrind"
    )


if __name__ == "__main__":
    main()
