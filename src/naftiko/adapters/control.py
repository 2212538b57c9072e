"""Control port: health probes, status and Prometheus metrics of the running runtime, and
the management endpoints its flags turn on (reload, validate, logs; `control_ops.py`) (§8.2)."""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from naftiko.adapters.auth_gate import Authority, Gate, caller
from naftiko.adapters.common import access_log, log, problem
from naftiko.adapters.control_ops import Management
from naftiko.engine.exposed import guard
from naftiko.engine.metrics import Metrics
from naftiko.engine.plan import Plan
from naftiko.model import ExposesControl
from naftiko.model.exposes import Observability
from naftiko.version import __version__


class RuntimeView(Protocol):
    """What the control port reads of the runtime (which imports the adapters, not the reverse)."""

    metrics: Metrics

    def status(self) -> dict[str, Any]: ...

    async def unready(self) -> list[str]:
        """Why the runtime is not ready (draining, an upstream unreachable), or nothing."""
        ...

    async def reload(self) -> tuple[bool, str]:
        """Re-reads every spec and bind file: (True, summary) or (False, located errors)."""
        ...


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
        self._routes: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
        if adapter.management.health:
            self._routes["/health/live"] = {"GET": self._live}
            self._routes["/health/ready"] = {"GET": self._ready}
        if adapter.management.info:
            self._routes["/status"] = {"GET": self._status}
        if _metrics_enabled(adapter.observability):
            self._routes["/metrics"] = {"GET": self._metrics}
        self._routes.update(Management(adapter.management, runtime.reload).routes())
        self.app = Starlette(routes=[Route("/{rest:path}", self._dispatch, methods=_METHODS)])

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    async def _dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = self._gate.metadata(request) or await self._gate.admit(request)
            response = response or await self._route(request)
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

    async def _route(self, request: Request) -> Response:
        methods = self._routes.get(request.url.path)
        if methods is None:
            return problem(404, f"no resource at {request.url.path}")
        handler = methods.get(request.method)
        if handler is None:
            allowed = list(methods)
            response = problem(405, f"method {request.method} not allowed", allow=allowed)
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return await handler(request)

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
            "adapters": status["adapters"],
        }
        if status.get("workers") is not None:
            body["workers"] = status["workers"]
        return JSONResponse(body)

    async def _metrics(self, _: Request) -> Response:
        return Response(self.runtime.metrics.prometheus(), media_type=PROMETHEUS_TEXT)

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
