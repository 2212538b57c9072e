"""Control port: health probes, status and Prometheus metrics of the running runtime, and
the management endpoints its flags turn on (reload, validate, logs; `control_ops.py`) (§8.2)."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from naftiko.adapters.auth_gate import Authority, Gate
from naftiko.adapters.common import OPERATION, problem
from naftiko.adapters.control_ops import Management
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

    async def unready(self) -> list[str]:
        """Why the runtime is not ready (draining, an upstream unreachable), or nothing."""
        ...

    async def reload(self) -> tuple[bool, str]:
        """Re-reads every spec and bind file: (True, summary) or (False, located errors)."""
        ...


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
        self._routes: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
        if adapter.management.health:
            self._routes["/health/live"] = {"GET": self._live}
            self._routes["/health/ready"] = {"GET": self._ready}
        if adapter.management.info:
            self._routes["/status"] = {"GET": self._status}
        if _metrics_enabled(adapter.observability):
            self._routes["/metrics"] = {"GET": self._metrics}
        telemetry = runtime.telemetry
        self._recent = telemetry.recent if telemetry is not None else None
        if self._recent is not None and adapter.observability is not None:
            self._routes["/traces"] = {"GET": self._traces}
        self._routes.update(Management(adapter.management, runtime.reload).routes())

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    def methods_at(self, path: str) -> list[str]:
        return list(self._handlers(path))

    def _handlers(self, path: str) -> dict[str, Callable[[Request], Awaitable[Response]]]:
        handlers = self._routes.get(path)
        if handlers is None and path.startswith("/traces/") and "/traces" in self._routes:
            return {"GET": self._trace}
        return handlers or {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        handler = self._handlers(path).get(scope["method"])
        if handler is not None:
            traces = path.startswith("/traces/")
            scope["state"][OPERATION] = "/traces/{traceId}" if traces else path
            response = await handler(Request(scope, receive))
        else:  # the edge answers 404 and 405 before this
            response = problem(404, f"no resource at {path}")
        await response(scope, receive, send)

    async def _live(self, _: Request) -> Response:
        return JSONResponse({"status": "UP"})

    async def _ready(self, _: Request) -> Response:
        # The control port answering is proof enough of itself; readiness is about the others.
        adapters = [a for a in self._adapters() if a["type"] != "control"]
        reasons = await self.runtime.unready()  # draining; upstreams (--ready-upstreams)
        ready = not reasons and all(a["state"] == "started" for a in adapters)
        body: dict[str, Any] = {"status": "UP" if ready else "DEGRADED", "adapters": adapters}
        if reasons:
            body["reasons"] = reasons
        return JSONResponse(body, status_code=200 if ready else 503)

    async def _status(self, _: Request) -> Response:
        status = self.runtime.status()
        body = {
            "capability": self._capability,
            "engine": self._engine,
            "uptime": f"PT{status['uptime_seconds']:.3f}S",
            "otel": {"status": "active" if self.runtime.telemetry is not None else "inactive"},
            "adapters": status["adapters"],
        }
        if status.get("workers") is not None:
            body["workers"] = status["workers"]
        return JSONResponse(body)

    async def _metrics(self, _: Request) -> Response:
        return Response(self.runtime.metrics.prometheus(), media_type=PROMETHEUS_TEXT)

    async def _traces(self, request: Request) -> Response:
        assert self._recent is not None  # the route exists only with the buffer
        query = request.query_params
        return JSONResponse(self._recent.traces(query.get("operation"), query.get("status")))

    async def _trace(self, request: Request) -> Response:
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
