"""Every benchmark of issue 13, one after the other, each table printed as it completes.

    python bench/all.py [--quick]

Each script alternates naftiko and its peer round by round and reports ratios measured in the
same run (medians of per-round ratios), with the machine's load average before and after:
figures from a shared machine are only comparable within one run. `--quick` runs fewer,
shorter rounds (a smoke run, not figures to quote). MCP needs FastMCP in its own venv
(bench/README.md); without it that row is skipped, said so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FASTMCP_PYTHON = os.environ.get("FASTMCP_PYTHON", "/work/bench-venv/bin/python")

# (title, script and arguments, the same with --quick)
RUNS = [
    (
        "Start-up (goal 4)",
        ["startup.py", "--rounds", "7"],
        ["startup.py", "--rounds", "3"],
    ),
    (
        "REST, pinned (goal 1)",
        ["rest.py", "--rounds", "5", "--duration", "4"],
        ["rest.py", "--rounds", "2", "--duration", "2"],
    ),
    (
        "REST, unpinned (goal 1)",
        ["rest.py", "--rounds", "3", "--duration", "4", "--unpinned"],
        ["rest.py", "--rounds", "1", "--duration", "2", "--unpinned"],
    ),
    (
        "Routing, 1,000 operations (goal 2)",
        ["routes.py", "--rounds", "6", "--duration", "3"],
        ["routes.py", "--rounds", "2", "--duration", "2"],
    ),
    (
        "MCP tools/call (goal 3)",
        ["mcp.py", "--rounds", "5", "--duration", "4"],
        ["mcp.py", "--rounds", "1", "--duration", "2"],
    ),
    (
        "Large bodies (goal 5)",
        ["bodies.py", "--rounds", "4"],
        ["bodies.py", "--rounds", "2", "--size", "20000000"],
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args()
    failed = []
    for title, full, quick in RUNS:
        script = quick if args.quick else full
        print(f"\n## {title}\n", flush=True)
        if script[0] == "mcp.py" and not Path(FASTMCP_PYTHON).exists():
            print(f"skipped: no FastMCP at {FASTMCP_PYTHON} (see bench/README.md)", flush=True)
            continue
        began = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script[0]), *script[1:]], cwd=HERE)
        print(f"\n({script[0]}: {time.perf_counter() - began:.0f} s)", flush=True)
        if done.returncode != 0:
            failed.append(script[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
