"""Control port: health probes, status and Prometheus metrics of the running runtime (§8.2)."""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from naftiko.adapters.auth_gate import Authority, Gate, caller
from naftiko.adapters.common import access_log, log, problem
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


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class ControlAdapter:
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
        self._gate = Gate(guard(plan, adapter.authentication, at), authority)
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
        self.app = Starlette(routes=[Route("/{rest:path}", self._dispatch, methods=_METHODS)])

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    async def _dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = self._gate.metadata(request) or await self._gate.admit(request)
            response = response or self._route(request)
        except Exception:
            # The edge: an unexpected fault is a 500 with no details, and a log line for us.
            log.exception("unexpected error in control adapter %s", self.namespace)
            response = problem(500, "internal error")
        # Probes hit this port every few seconds: their lines stay out of the info-level log.
        access_log.debug(
            "%s %s %s %d %.1fms %s",
            self.namespace,
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            caller(request.scope),
        )
        return response

    def _route(self, request: Request) -> Response:
        path = request.url.path
        handler = self._routes.get(path)
        if handler is None and path.startswith("/traces/") and "/traces" in self._routes:
            handler = self._trace
        if handler is None:
            return problem(404, f"no resource at {request.url.path}")
        if request.method != "GET":
            response = problem(405, f"method {request.method} not allowed", allow=["GET"])
            response.headers["Allow"] = "GET"
            return response
        return handler(request)

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
