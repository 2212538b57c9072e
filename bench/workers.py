"""`naftiko run --workers 2` against `--workers 1`: the same wrk load on a mock REST operation
(no upstream, so the gateway's own CPU is what is measured). Loopback only; each run bounded.

    python bench/workers.py [--seconds 5] [--connections 64]

On a 2-core machine wrk shares the cores with the workers: the ratio printed is what this box
gives, not what 2 workers give with the load generator elsewhere.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SPEC = {
    "naftiko": "1.0.0-alpha2",
    "info": {"label": "bench"},
    "capability": {
        "exposes": [
            {
                "type": "rest",
                "port": 0,
                "namespace": "bench-rest",
                "resources": [
                    {
                        "path": "/orders",
                        "name": "orders",
                        "operations": [
                            {
                                "method": "GET",
                                "name": "list",
                                "outputParameters": [
                                    {"name": "count", "type": "number", "value": 2}
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    },
}


def _requests_per_second(workers: int, seconds: int, connections: int, spec: Path) -> float:
    naftiko = str(Path(sys.executable).with_name("naftiko"))
    process = subprocess.Popen(
        [naftiko, "run", "--workers", str(workers), "--log-level", "warning", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[2] + "/orders"
        time.sleep(1.0)  # every worker has entered its loop
        wrk = subprocess.run(
            # wrk pinned to one core, one thread: the workers get the rest of the machine.
            ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        found = re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)
        assert found, wrk.stdout
        return float(found.group(1))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "bench.yaml"
        spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
        one = _requests_per_second(1, args.seconds, args.connections, spec)
        two = _requests_per_second(2, args.seconds, args.connections, spec)
    print("| workers | requests/s |\n|---|---|")
    print(f"| 1 | {one:.0f} |\n| 2 | {two:.0f} |")
    print(f"\n2 workers / 1 worker: {two / one:.2f}x")


if __name__ == "__main__":
    main()
