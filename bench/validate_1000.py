"""Load/validate benchmark: a generated spec with 1,000 consumed operations.

    python bench/validate_1000.py [--operations 1000] [--repeat 5]

The spec has one consumed API with N operations (one resource each, with a path parameter and a
JSONPath output), and for each a REST operation and an MCP tool calling it. Prints a markdown
table: `naftiko.load` (best and median of the repeats), the same for the seed as a baseline, and
the wall time of one `naftiko validate` process on each (which includes interpreter start-up).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import naftiko

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "examples" / "groq-batch.yaml"
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))


def generate(operations: int) -> dict[str, Any]:
    """A capability with `operations` consumed operations, each exposed over REST and MCP."""
    resources = []
    rest_resources = []
    tools = []
    for i in range(operations):
        op = f"get-item-{i}"
        resources.append(
            {
                "name": f"items-{i}",
                "path": f"/items-{i}/{{{{id}}}}",
                "operations": [
                    {
                        "name": op,
                        "method": "GET",
                        "inputParameters": [{"name": "id", "in": "path"}],
                        "outputParameters": [
                            {"name": "result", "type": "object", "value": "$.data"}
                        ],
                    }
                ],
            }
        )
        outputs = [
            {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "mapping": "$.id"},
                    "name": {"type": "string", "mapping": "$.attributes.name"},
                },
            }
        ]
        rest_resources.append(
            {
                "path": f"/v1/items-{i}/{{id}}",
                "name": f"items-{i}",
                "inputParameters": [
                    {"name": "id", "in": "path", "type": "string", "description": "Item id."}
                ],
                "operations": [
                    {
                        "method": "GET",
                        "name": op,
                        "call": f"upstream.{op}",
                        "with": {"id": "bench-rest.id"},
                        "outputParameters": outputs,
                    }
                ],
            }
        )
        tools.append(
            {
                "name": op,
                "description": f"Get item {i}.",
                "inputParameters": [
                    {"name": "id", "type": "string", "required": True, "description": "Item id."}
                ],
                "call": f"upstream.{op}",
                "with": {"id": "bench-mcp.id"},
                "outputParameters": outputs,
            }
        )
    return {
        "naftiko": naftiko.SPEC_VERSION,
        "info": {"label": f"Benchmark: {operations} operations"},
        "capability": {
            "consumes": [
                {
                    "type": "http",
                    "namespace": "upstream",
                    "baseUri": "http://127.0.0.1:9",
                    "resources": resources,
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "bench-rest",
                    "port": 8080,
                    "resources": rest_resources,
                },
                {"type": "mcp", "namespace": "bench-mcp", "port": 9090, "tools": tools},
            ],
        },
    }


def time_load(path: Path, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        naftiko.load(path)
        timings.append(time.perf_counter() - began)
    return timings


def time_cli(path: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run([NAFTIKO, "validate", str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"validate failed on {path}:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "bench-1000.yaml"
        big.write_text(yaml.safe_dump(generate(args.operations), sort_keys=False))
        lines = big.read_text().count("\n")
        warnings = len(naftiko.load(big).warnings)
        rows = []
        for label, path in ((f"generated ({args.operations} ops)", big), ("seed (4 ops)", SEED)):
            loads = time_load(path, args.repeat)
            size = path.stat().st_size
            rows.append((label, size, min(loads), statistics.median(loads), time_cli(path)))
    print(f"generated spec: {lines} lines, {warnings} warnings; repeat={args.repeat}\n")
    print("| spec | bytes | load best (ms) | load median (ms) | `naftiko validate` wall (ms) |")
    print("|---|---:|---:|---:|---:|")
    for label, size, best, median, cli in rows:
        print(f"| {label} | {size:,} | {best * 1e3:.1f} | {median * 1e3:.1f} | {cli * 1e3:.0f} |")
    per_op = rows[0][2] / args.operations * 1e6
    print(f"\nload per consumed operation (best, incl. its REST op and MCP tool): {per_op:.0f} µs")


if __name__ == "__main__":
    main()
