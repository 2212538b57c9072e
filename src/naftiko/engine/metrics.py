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
import tempfile
import time
from bisect import bisect_left
from typing import Any

from naftiko.errors import NaftikoError
from naftiko.version import __version__

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_REQUEST = ("naftiko_adapter_type", "naftiko_operation_id", "status")
_CLIENT = ("http_request_method", "server_address", "http_response_status_code", "error_type")
# A caller may fill an upstream's host (one DNS label, SECURITY.md 3): each new host would be
# a new series, kept for the process's life. Past this many, new hosts share one series.
MAX_SERVERS = 100
OTHER_SERVER = "_other"


def _writable(directory: str) -> None:
    """prometheus_client writes each process's values as files there, from the first metric
    on: a folder that is missing or read-only was an internal error (FileNotFoundError) at
    start. It is one line naming the variable instead."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NaftikoError(
            f"{MULTIPROCESS_ENV}={directory}: metrics cannot be written there ({reason})"
        ) from None


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
        if self._directory is not None:
            _writable(self._directory)
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
        self._tallies: dict[tuple[str, ...], _Tally] = {}
        self._levels: dict[str, Level] = {}
        self._servers: set[str] = set()

    def observe(self, kind: str, operation: str, status: str, seconds: float) -> None:
        key = (kind, operation, status)
        tally = self._tallies.get(key) or self._tally(self._requests, self._durations, key)
        tally.add(seconds)
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
        tally = self._tallies.get(key)
        if tally is None:
            if server not in self._servers:
                if len(self._servers) >= MAX_SERVERS:
                    key = (method, OTHER_SERVER, *key[2:])
                else:
                    self._servers.add(server)
            tally = self._tallies.get(key) or self._tally(self._client, self._client_durations, key)
        tally.add(seconds)

    def _tally(self, counter: Any, histogram: Any, key: tuple[str, ...]) -> _Tally:
        """The counter and histogram children of `key` (request keys have three labels,
        upstream keys four: they share one cache)."""
        kind = _Shared if self._directory is not None else _Tally
        tally = self._tallies[key] = kind(counter.labels(*key), histogram.labels(*key))
        return tally

    def in_flight(self, kind: str) -> Level:
        """The in-flight gauge of adapter type `kind` (see `Level`)."""
        level = self._levels.get(kind)
        if level is None:
            shared = self._directory is not None
            level = (_SharedLevel if shared else Level)(self._in_flight, kind)
            self._levels[kind] = level
        return level

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
            for tally in self._tallies.values():
                tally.flush()
            for level in self._levels.values():
                level.flush()
        text = generate_latest(registry).decode()
        # §8.3: the reference adds no suffix to this counter's name.
        text = text.replace("\nnaftiko_request_errors_total{", "\nnaftiko_request_errors{")
        uptime = time.time() - self.started
        return text + (
            "# HELP naftiko_uptime_seconds Seconds since this process started.\n"
            "# TYPE naftiko_uptime_seconds gauge\n"
            f"naftiko_uptime_seconds {uptime:.3f}\n"
        )


class _Tally:
    """A counter and a histogram of one label set, fed per request. One process (no
    multi-process directory): plain numbers here, copied into the children's value objects
    when the registry is read (`flush`, by `Metrics.prometheus`) — the request path pays no
    call, lock or check for them. The bucket is chosen as `observe` chooses it (the first
    bound >= the value; the last bound is +Inf), and `flush` writes the same per-bucket
    counts `observe` would have, so the exposition is the library's own."""

    __slots__ = ("_children", "bounds", "buckets", "count", "sum")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self._children = (_value(counter), histogram._sum, histogram._buckets)
        self.bounds = histogram._upper_bounds
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * len(self.bounds)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        self.buckets[bisect_left(self.bounds, seconds)] += 1

    def flush(self) -> None:
        # Totals, not deltas: a read racing a request (another thread) shows it or not.
        count, total, buckets = self._children
        count.set(self.count)
        total.set(self.sum)
        for value, counted in zip(buckets, self.buckets, strict=True):
            value.set(counted)


class _Shared(_Tally):
    """Several worker processes: each value is written as it happens into this process's
    file (any worker may serve `/metrics` and read them all), straight into the value
    objects the children's `inc` and `observe` write, without their per-call checks."""

    __slots__ = ()

    def add(self, seconds: float) -> None:
        count, total, buckets = self._children
        count.inc(1)
        total.inc(seconds)
        buckets[bisect_left(self.bounds, seconds)].inc(1)

    def flush(self) -> None:
        return  # already written


class Level:
    """The in-flight gauge of one adapter type: the edge calls `enter` as a request enters
    the adapter and `leave` as it leaves. One process: plain numbers, copied to the gauge
    when it is read; its series exists once a request has entered, as with `inc`."""

    __slots__ = ("_gauge", "_kind", "_value", "entered", "left")

    def __init__(self, gauge: Any, kind: str) -> None:
        self._gauge, self._kind = gauge, kind
        self._value: Any = None  # the child's value object, made by the first request
        self.entered = 0
        self.left = 0

    def enter(self) -> None:
        self.entered += 1

    def leave(self) -> None:
        self.left += 1

    def _child(self) -> Any:
        if self._value is None:
            self._value = _value(self._gauge.labels(self._kind))
        return self._value

    def flush(self) -> None:
        if self.entered:
            self._child().set(self.entered - self.left)


class _SharedLevel(Level):
    """Several worker processes: the gauge is `livesum`, summed over the live workers'
    files, so every change is written as it happens."""

    __slots__ = ()

    def enter(self) -> None:
        self._child().inc(1)

    def leave(self) -> None:
        self._child().inc(-1)

    def flush(self) -> None:
        return  # already written


def _value(child: Any) -> Any:
    """The value object behind a counter or gauge child (its `inc` is what theirs calls)."""
    return child._value
