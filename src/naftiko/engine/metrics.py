"""The Prometheus metrics of SEMANTICS §8.3 (the reference engine's names and labels, so its
dashboards and alerts work unchanged), kept by the official `prometheus_client`.

One process: the values live in this runtime's own registry. Several worker processes: the
supervisor sets `PROMETHEUS_MULTIPROC_DIR` to an empty directory before any worker starts;
`prometheus_client` then keeps every value in per-process files there, and `/metrics`, served
by any worker, reads the sum over all of them (`MultiProcessCollector`). That aggregation is
why the hand-written exposition gave way to the library.
"""

from __future__ import annotations

import os
import platform
import time
from bisect import bisect_left
from typing import Any

from naftiko.version import __version__

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_REQUEST = ("naftiko_adapter_type", "naftiko_operation_id", "status")
_CLIENT = ("http_request_method", "server_address", "http_response_status_code", "error_type")


class Metrics:
    """Owned by the runtime, fed by the adapters and the engine, read by the control port."""

    def __init__(self) -> None:
        # Imported here: `naftiko --version` and `validate` never load the library.
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        # The reference exposes no `_created` series; Prometheus does not need them.
        disable_created_metrics()
        self.started = time.time()
        self._directory = os.environ.get(MULTIPROCESS_ENV) or None
        registry = self.registry = CollectorRegistry(auto_describe=False)
        self._requests = Counter("naftiko_request", "Requests served.", _REQUEST, registry=registry)

        def histogram(name: str, text: str, labels: tuple[str, ...]) -> Any:
            return Histogram(name, text, labels, buckets=BUCKETS, registry=registry)

        self._durations = histogram(
            "naftiko_request_duration_seconds", "Request duration.", _REQUEST
        )
        self._errors = Counter(
            "naftiko_request_errors",
            "Requests answered with an error.",
            ("naftiko_adapter_type", "naftiko_operation_id", "error_type"),
            registry=registry,
        )
        self._steps = histogram(
            "naftiko_step_duration_seconds",
            "Orchestration step duration.",
            ("step_type", "naftiko_namespace"),
        )
        self._client = Counter("naftiko_http_client", "Upstream calls.", _CLIENT, registry=registry)
        self._client_durations = histogram(
            "naftiko_http_client_duration_seconds", "Upstream call duration.", _CLIENT
        )
        self._in_flight = Gauge(
            "naftiko_requests_in_flight",
            "Requests being served.",
            ("naftiko_adapter_type",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._active = Gauge(
            "naftiko_capability_active",
            "Capabilities served.",
            ("naftiko_capability",),
            registry=registry,
            multiprocess_mode="liveall",
        )
        info = Gauge(
            "naftiko_build_info",
            "The runtime's version.",
            ("version", "python"),
            registry=registry,
            multiprocess_mode="liveall",
        )
        info.labels(__version__, platform.python_version()).set(1)
        # Labelled children, looked up once per label set: `labels()` takes a lock each time.
        self._children: dict[tuple[str, ...], _Timed] = {}
        self._gauges: dict[str, Any] = {}

    def observe(self, kind: str, operation: str, status: str, seconds: float) -> None:
        self._count(self._requests, self._durations, (kind, operation, status), seconds)
        if status == "ERROR" or status[:1] == "5":
            self._errors.labels(
                kind, operation, "tool_error" if status == "ERROR" else status
            ).inc()

    def step(self, kind: str, namespace: str, seconds: float) -> None:
        self._steps.labels(kind, namespace).observe(seconds)

    def upstream(self, method: str, server: str, status: int | None, seconds: float) -> None:
        """One upstream call; `status` None: it failed in transport (no answer)."""
        if status is None:
            key = (method, server, "", "transport")
        else:
            key = (method, server, str(status), "")
        self._count(self._client, self._client_durations, key, seconds)

    def _count(self, counter: Any, histogram: Any, key: tuple[str, ...], seconds: float) -> None:
        """One more in `counter` and `seconds` in `histogram`, both labelled `key` (request
        keys have three labels, upstream keys four: they share one cache)."""
        timed = self._children.get(key)
        if timed is None:
            timed = self._children[key] = _Timed(counter.labels(*key), histogram.labels(*key))
        timed.add(seconds)

    def entered(self, kind: str) -> None:
        value = self._gauges.get(kind)
        if value is None:
            value = self._gauges[kind] = _value(self._in_flight.labels(kind))
        value.inc(1)

    def left(self, kind: str) -> None:
        self._gauges[kind].inc(-1)

    def capability(self, label: str) -> None:
        self._active.labels(label).set(1)

    def prometheus(self) -> str:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self._directory is not None:
            registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(registry, path=self._directory)
        else:
            registry = self.registry
        text = generate_latest(registry).decode()
        # §8.3: the reference adds no suffix to this counter's name.
        text = text.replace("\nnaftiko_request_errors_total{", "\nnaftiko_request_errors{")
        uptime = time.time() - self.started
        return text + (
            "# HELP naftiko_uptime_seconds Seconds since this process started.\n"
            "# TYPE naftiko_uptime_seconds gauge\n"
            f"naftiko_uptime_seconds {uptime:.3f}\n"
        )


class _Timed:
    """A counter and a histogram of one label set, fed per request. Their values are written
    directly — the very value objects (in memory, or the multi-process files) that the
    children's `inc` and `observe` write — without the per-call checks that cost a request
    a dozen function calls; `observe` picks the bucket the same way (the first bound >= the
    value; the last bound is +Inf)."""

    __slots__ = ("_bounds", "_buckets", "_count", "_sum")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self._count = _value(counter)
        self._sum = histogram._sum
        self._buckets = histogram._buckets
        self._bounds = histogram._upper_bounds

    def add(self, seconds: float) -> None:
        self._count.inc(1)
        self._sum.inc(seconds)
        self._buckets[bisect_left(self._bounds, seconds)].inc(1)


def _value(child: Any) -> Any:
    """The value object behind a counter or gauge child (its `inc` is what theirs calls)."""
    return child._value
