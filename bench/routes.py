"""Routing benchmark: the last route of a 1,000-operation REST spec against its first.

    python bench/routes.py [--operations 1000] [--rounds 5] [--duration 3] [--connections 32]

The spec is `validate_1000.py`'s, pointed at the canned upstream. One `naftiko run` serves it
(pinned to core 0; upstream and wrk on core 1); each round loads `/v1/items-0/x` then
`/v1/items-999/x` (the order alternates between rounds), and the figure is the median of the
per-round ratios last / first. Goal (issue 13, goal 2): within 5% (>= 0.95x).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, free_port, load_average, wait_port
from rest import wrk_url
from validate_1000 import generate

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))


def match_costs(operations: int) -> tuple[float, float]:
    """µs to find the last route in-process: the route table, and the regex scan it replaced."""
    from naftiko.adapters.rest_routes import RouteTable
    from naftiko.engine.exposed import Route, compile_path
    from naftiko.engine.plan import Action

    routes = []
    for i in range(operations):
        regex, variables = compile_path(f"/v1/items-{i}/{{id}}")
        routes.append(
            Route("GET", f"/v1/items-{i}/{{id}}", regex, variables, Action("a", "b", "mock"))
        )
    table, path, n = RouteTable(tuple(routes)), f"/v1/items-{operations - 1}/x", 2000

    def scan() -> Route | None:
        return next((r for r in routes if r.regex.match(path) and r.method == "GET"), None)

    began = time.perf_counter()
    for _ in range(n):
        table.match("GET", path)
    middle = time.perf_counter()
    for _ in range(n):
        scan()
    return (middle - began) / n * 1e6, (time.perf_counter() - middle) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    up_port, port = free_port(), free_port()
    upstream = subprocess.Popen(
        [*(LOAD_CPU if PIN else []), PYTHON, str(HERE / "upstream.py"), str(up_port)]
    )
    wait_port(up_port)
    data = generate(args.operations)
    data["capability"]["consumes"][0]["baseUri"] = f"http://127.0.0.1:{up_port}"
    data["capability"]["exposes"][0]["port"] = port
    data["capability"]["exposes"][1]["port"] = free_port()
    spec = Path(tempfile.mkdtemp()) / "routes.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    first = f"http://127.0.0.1:{port}/v1/items-0/x"
    last = f"http://127.0.0.1:{port}/v1/items-{args.operations - 1}/x"
    loads = [load_average()]
    gateway = subprocess.Popen(
        [*(GATEWAY_CPU if PIN else []), NAFTIKO, "run", "--log-level", "warning", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[float]] = {"first": [], "last": []}
    try:
        wait_port(port, 60)
        wrk_url(first, 1, args.connections)  # warm-up
        for round_ in range(args.rounds):
            order = [("first", first), ("last", last)]
            for name, url in order if round_ % 2 == 0 else order[::-1]:
                results[name].append(wrk_url(url, args.duration, args.connections))
    finally:
        gateway.terminate()
        gateway.wait(20)
        upstream.terminate()
        upstream.wait(10)
    loads.append(load_average())
    ratios = [b / a for a, b in zip(results["first"], results["last"], strict=True)]
    print(f"| route of {args.operations} | req/s (median of {args.rounds}) | vs first route |")
    print("|---|---:|---:|")
    print(f"| first (`/v1/items-0/{{id}}`) | {statistics.median(results['first']):,.0f} | 1.00x |")
    print(
        f"| last (`/v1/items-{args.operations - 1}/{{id}}`) | "
        f"{statistics.median(results['last']):,.0f} | {statistics.median(ratios):.2f}x |"
    )
    print(f"\nper-round last/first: {', '.join(f'{r:.2f}' for r in ratios)}")
    table_us, scan_us = match_costs(args.operations)
    print(f"finding the last route in-process: {table_us:.1f} µs (regex scan: {scan_us:.0f} µs)")
    print(f"load average (1, 5, 15 min) before / after: {loads[0]} / {loads[1]}")


if __name__ == "__main__":
    main()
