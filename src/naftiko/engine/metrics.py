"""Request counts and latency histograms per adapter and operation, in Prometheus text."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class _Series:
    count: int = 0
    total: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))


class Metrics:
    """Owned by the runtime, fed by every adapter, read by the control port."""

    def __init__(self) -> None:
        self.started = time.time()
        self._requests: dict[tuple[str, str, str, str], int] = {}
        self._latency: dict[tuple[str, str, str], _Series] = {}

    def observe(self, kind: str, adapter: str, operation: str, status: str, seconds: float) -> None:
        key = (kind, adapter, operation, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        series = self._latency.get((kind, adapter, operation))
        if series is None:
            series = self._latency[(kind, adapter, operation)] = _Series()
        series.count += 1
        series.total += seconds
        series.buckets[bisect_left(BUCKETS, seconds)] += 1

    def state(self) -> dict[str, list[list[object]]]:
        """The counters as JSON-ready lists, for summing over worker processes."""
        return {
            "requests": [[*key, count] for key, count in sorted(self._requests.items())],
            "latency": [
                [*key, s.count, s.total, s.buckets] for key, s in sorted(self._latency.items())
            ],
        }

    def add(self, state: dict[str, list[list[Any]]]) -> None:
        """Adds another process's `state()` to these counters."""
        for kind, adapter, op, status, count in state["requests"]:
            key = (kind, adapter, op, status)
            self._requests[key] = self._requests.get(key, 0) + count
        for kind, adapter, op, count, total, buckets in state["latency"]:
            series = self._latency.setdefault((kind, adapter, op), _Series())
            series.count += count
            series.total += total
            series.buckets = [a + b for a, b in zip(series.buckets, buckets, strict=True)]

    def prometheus(self) -> str:
        lines = [
            "# HELP naftiko_requests_total Requests served, by adapter, operation and status.",
            "# TYPE naftiko_requests_total counter",
        ]
        for (kind, adapter, op, status), count in sorted(self._requests.items()):
            labels = _labels(adapter_type=kind, adapter=adapter, operation=op, status=status)
            lines.append(f"naftiko_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP naftiko_request_duration_seconds Request latency, by adapter and operation.",
            "# TYPE naftiko_request_duration_seconds histogram",
        ]
        for (kind, adapter, op), series in sorted(self._latency.items()):
            base = _labels(adapter_type=kind, adapter=adapter, operation=op)
            running = 0
            for bound, hits in zip((*BUCKETS, float("inf")), series.buckets, strict=True):
                running += hits
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'naftiko_request_duration_seconds_bucket{{{base},le="{le}"}} {running}'
                )
            lines.append(f"naftiko_request_duration_seconds_sum{{{base}}} {series.total:.6f}")
            lines.append(f"naftiko_request_duration_seconds_count{{{base}}} {series.count}")
        lines += [
            "# HELP naftiko_uptime_seconds Seconds since the runtime started.",
            "# TYPE naftiko_uptime_seconds gauge",
            f"naftiko_uptime_seconds {time.time() - self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
