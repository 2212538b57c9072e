"""Control port: health probes, status and Prometheus metrics of the running runtime (§8.2)."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from naftiko.adapters.auth_gate import Authority, Gate
from naftiko.adapters.common import OPERATION, problem
from naftiko.adapters.limits import problem_refusal
from naftiko.engine.exposed import guard
from naftiko.engine.metrics import Metrics
from naftiko.engine.plan import Plan
from naftiko.model import ExposesControl
from naftiko.model.exposes import Observability
from naftiko.version import __version__


class RuntimeView(Protocol):
    """What the control port reads of the runtime (which imports the adapters, not the reverse)."""

    metrics: Metrics
    telemetry: Any  # engine.telemetry.Telemetry, or None when tracing is off

    def status(self) -> dict[str, Any]: ...


PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class ControlAdapter:
    """The control port, served behind `edge.Edge` like every adapter."""

    kind = "control"
    refuse = staticmethod(problem_refusal)

    def __init__(
        self,
        plan: Plan,
        index: int,
        adapter: ExposesControl,
        runtime: RuntimeView,
        authority: Authority | None = None,
    ) -> None:
        self.runtime = runtime
        self.namespace = adapter.namespace or adapter.type
        at = ("capability", "exposes", index)
        self.gate = Gate(guard(plan, adapter.authentication, at), authority)
        info = plan.capability.info
        self._capability = {
            "label": info.label if info else None,
            "specVersion": plan.capability.naftiko,
        }
        self._engine = {"version": __version__, "python": platform.python_version()}
        self._routes: dict[str, Callable[[Request], Response]] = {}
        if adapter.management.health:
            self._routes["/health/live"] = self._live
            self._routes["/health/ready"] = self._ready
        if adapter.management.info:
            self._routes["/status"] = self._status
        if _metrics_enabled(adapter.observability):
            self._routes["/metrics"] = self._metrics
        telemetry = runtime.telemetry
        self._recent = telemetry.recent if telemetry is not None else None
        if self._recent is not None and adapter.observability is not None:
            self._routes["/traces"] = self._traces

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    def methods_at(self, path: str) -> list[str]:
        return ["GET"] if self._handler(path) is not None else []

    def _handler(self, path: str) -> Callable[[Request], Response] | None:
        handler = self._routes.get(path)
        if handler is None and path.startswith("/traces/") and "/traces" in self._routes:
            return self._trace
        return handler

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        handler = self._handler(path)
        if handler is not None:
            traces = path.startswith("/traces/")
            scope["state"][OPERATION] = "/traces/{traceId}" if traces else path
        request = Request(scope, receive)
        response = handler(request) if handler else problem(404, f"no resource at {path}")
        await response(scope, receive, send)

    def _live(self, request: Request) -> Response:
        return JSONResponse({"status": "UP"})

    def _ready(self, request: Request) -> Response:
        # The control port answering is proof enough of itself; readiness is about the others.
        adapters = [a for a in self._adapters() if a["type"] != "control"]
        ready = all(a["state"] == "started" for a in adapters)
        body = {"status": "UP" if ready else "DEGRADED", "adapters": adapters}
        return JSONResponse(body, status_code=200 if ready else 503)

    def _status(self, request: Request) -> Response:
        status = self.runtime.status()
        return JSONResponse(
            {
                "capability": self._capability,
                "engine": self._engine,
                "uptime": f"PT{status['uptime_seconds']:.3f}S",
                "otel": {"status": "active" if self.runtime.telemetry is not None else "inactive"},
                "adapters": status["adapters"],
            }
        )

    def _metrics(self, request: Request) -> Response:
        return Response(self.runtime.metrics.prometheus(), media_type=PROMETHEUS_TEXT)

    def _traces(self, request: Request) -> Response:
        assert self._recent is not None  # the route exists only with the buffer
        query = request.query_params
        return JSONResponse(self._recent.traces(query.get("operation"), query.get("status")))

    def _trace(self, request: Request) -> Response:
        assert self._recent is not None
        trace_id = request.url.path.removeprefix("/traces/")
        found = self._recent.trace(trace_id)
        if found is None:
            return JSONResponse({"error": f"trace {trace_id[:64]!r} not found"}, status_code=404)
        return JSONResponse(found)

    def _adapters(self) -> list[dict[str, Any]]:
        adapters: list[dict[str, Any]] = self.runtime.status()["adapters"]
        return adapters


def _metrics_enabled(observability: Observability | None) -> bool:
    if observability is None:
        return True
    if not observability.enabled:
        return False
    local = observability.metrics.local if observability.metrics else None
    return local is None or local.enabled
