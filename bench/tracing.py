"""What tracing costs the REST hot path: the seed served by a baseline checkout (`--baseline
SRC`, e.g. main's `src/`), by this tree without an `observability` block, and by this tree
tracing every request (sampling 1.0) to an OTLP/HTTP sink; alternated rounds, same load.

    python bench/tracing.py --baseline /path/to/main/src [--rounds 5] [--duration 5]

Needs `wrk`. Prints requests/s (median of the rounds) and each variant's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _ports import GATEWAY_CPU, LOAD_CPU, PIN, cpu_seconds, free_port
from rest import HERE, NAFTIKO, PYTHON, SEED, start, wrk


def _spec(
    folder: Path, name: str, upstream: str, port: int, control: dict[str, Any] | None
) -> Path:
    data = yaml.safe_load(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = upstream
    data["capability"]["exposes"][0]["port"] = port
    data["capability"]["exposes"][1]["port"] = free_port()
    if control is not None:
        data["capability"]["exposes"].append({"type": "control", "port": free_port(), **control})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="src/ of the baseline")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    up_port = free_port()
    upstream, _ = start(
        [*(LOAD_CPU if PIN else []), PYTHON, str(HERE / "upstream.py"), str(up_port)], up_port
    )
    # The canned upstream answers any POST 200 as well: it is the OTLP sink too.
    up_url = f"http://127.0.0.1:{up_port}"
    tmp = Path(tempfile.mkdtemp())
    traced = {
        "observability": {
            "traces": {"sampling": 1.0},
            "exporters": {"otlp": {"endpoint": up_url}},
        }
    }
    variants: dict[str, tuple[Path, int, dict[str, str]]] = {}
    for name, control, env in (
        ("baseline", None, {"PYTHONPATH": str(args.baseline)}),
        ("tracing off", None, {}),
        ("tracing on (1.0, OTLP)", traced, {}),
    ):
        port = free_port()
        variants[name] = (_spec(tmp, name.split()[0] + str(port), up_url, port, control), port, env)
    results: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(args.rounds):
            for name, (spec, port, env) in variants.items():
                cmd = [NAFTIKO, "run", "--log-level", "warning", str(spec)]
                proc, _ = start(
                    [*(GATEWAY_CPU if PIN else []), *cmd], port, {"GROQ_API_KEY": "b", **env}
                )
                try:
                    wrk(port, 1, args.connections)  # warm-up
                    before = cpu_seconds(proc.pid)
                    rate = wrk(port, args.duration, args.connections)
                    results[name].append(rate)
                    # CPU per request: less at the mercy of a shared machine than req/s.
                    cpu[name].append(
                        (cpu_seconds(proc.pid) - before) / (rate * args.duration) * 1e6
                    )
                finally:
                    proc.terminate()
                    proc.wait(20)
    finally:
        upstream.terminate()
        upstream.wait(10)
    base = statistics.median(results["baseline"])
    base_cpu = statistics.median(cpu["baseline"])
    print(
        f"| variant | req/s (median of {args.rounds}) | vs baseline "
        "| CPU µs/request | vs baseline |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        median, used = statistics.median(values), statistics.median(cpu[name])
        print(
            f"| {name} | {median:,.0f} | {median / base:.3f}x "
            f"| {used:.0f} | {used / base_cpu:.3f}x |"
        )
    for name, values in results.items():
        print(f"{name}: {', '.join(f'{v:,.0f}' for v in values)}")


if __name__ == "__main__":
    main()
