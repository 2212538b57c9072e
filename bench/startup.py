"""Start-up benchmark: `naftiko --version`, `naftiko validate`, `naftiko run` until it serves.

    python bench/startup.py [--rounds 7]

Each figure is the median over rounds, next to the same round's bare interpreter start
(`python -c pass`), the floor no Python command can go under; the ratio is the median of the
per-round ratios. `run` is timed from the command to a successful REST call *and* an MCP
`tools/list` on the seed (pointed at the canned upstream), then its resident memory is read.
The gateway is pinned to core 0 when `taskset` exists, the probes run from this process.
`python -X importtime` and `hyperfine` (Debian) show where a command's time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, free_port, load_average, wait_port

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "examples" / "groq-batch.yaml"
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
TOOLS_LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
GOALS = {"--version": 0.15, "validate": 0.3, "run (REST + MCP ready)": 0.6, "run RSS (MiB)": 70}


def wall(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def _ok(url: str, data: bytes | None = None) -> bool:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ready(spec: Path, rest: str, mcp: str) -> tuple[float, float]:
    """Seconds from `naftiko run` to a REST answer and an MCP tools/list; then RSS in MiB."""
    env = {**os.environ, "GROQ_API_KEY": "bench-token"}
    began = time.perf_counter()
    proc = subprocess.Popen(
        [*(GATEWAY_CPU if PIN else []), NAFTIKO, "run", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        done = {"rest": False, "mcp": False}
        while not all(done.values()):
            if time.perf_counter() - began > 30:
                raise RuntimeError("naftiko run did not become ready in 30 s")
            done["rest"] = done["rest"] or _ok(rest)
            done["mcp"] = done["mcp"] or _ok(mcp, TOOLS_LIST)
            if not all(done.values()):
                time.sleep(0.005)
        elapsed = time.perf_counter() - began
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:"))
        return elapsed, rss / 1024
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    up_port = free_port()
    upstream = subprocess.Popen(
        [*(LOAD_CPU if PIN else []), PYTHON, str(HERE / "upstream.py"), str(up_port)]
    )
    wait_port(up_port)
    data = yaml.safe_load(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = f"http://127.0.0.1:{up_port}"
    rest_port, mcp_port = free_port(), free_port()
    data["capability"]["exposes"][0]["port"] = rest_port
    data["capability"]["exposes"][1]["port"] = mcp_port
    spec = Path(tempfile.mkdtemp()) / "seed.yaml"
    spec.write_text(yaml.safe_dump(data))
    rest = f"http://127.0.0.1:{rest_port}/v1/openai/v1/batches/batch_01"
    mcp = f"http://127.0.0.1:{mcp_port}/mcp"

    rows: dict[str, list[float]] = {name: [] for name in GOALS}
    floor: list[float] = []
    loads = [load_average()]
    try:
        for _ in range(args.rounds):
            floor.append(wall([PYTHON, "-c", "pass"]))
            rows["--version"].append(wall([NAFTIKO, "--version"]))
            rows["validate"].append(wall([NAFTIKO, "validate", str(SEED)]))
            seconds, rss = ready(spec, rest, mcp)
            rows["run (REST + MCP ready)"].append(seconds)
            rows["run RSS (MiB)"].append(rss)
    finally:
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    base = statistics.median(floor)
    print(f"| start-up (median of {args.rounds}) | value | goal | vs `python -c pass` |")
    print("|---|---:|---:|---:|")
    print(f"| `python -c pass` | {base:.3f} s | | 1.0x |")
    for name, values in rows.items():
        median = statistics.median(values)
        if name.endswith("(MiB)"):
            print(f"| {name} | {median:.0f} MiB | < {GOALS[name]} MiB | |")
            continue
        ratio = statistics.median(v / f for v, f in zip(values, floor, strict=True))
        print(f"| `naftiko {name}` | {median:.3f} s | < {GOALS[name]} s | {ratio:.1f}x |")
    print(f"\nload average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()
