"""Assembly: load → plan → engine → adapters, every adapter of every spec in one `Runtime`
(what it serves, its state for the control port); `listeners.py` serves it."""

from __future__ import annotations

import logging
import os
import re
import signal
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naftiko.adapters.edge import Edge
from naftiko.adapters.limits import BodyLimits, Drain
from naftiko.adapters.origins import Cors, OriginPolicy, is_loopback
from naftiko.adapters.rest import RestAdapter
from naftiko.adapters.tracing import traced
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import mcp_plan, rest_plan
from naftiko.engine.metrics import Metrics
from naftiko.engine.network import build_network
from naftiko.engine.plan import Plan
from naftiko.engine.planner import build_plan
from naftiko.engine.startup import check_startup
from naftiko.engine.streams import Budget
from naftiko.engine.telemetry_config import tracing_config
from naftiko.engine.tls import CertificateError, server_context
from naftiko.engine.transport import Transport
from naftiko.errors import NaftikoError
from naftiko.model import ApiKeyAuth, ExposesControl, ExposesMcp, ExposesRest, ExposesSkill
from naftiko.readiness import unreachable
from naftiko.reload import Reloader
from naftiko.settings import Settings
from naftiko.spec.bindings import read_env_file, resolve
from naftiko.spec.loader import load

log = logging.getLogger("naftiko")


class StartupError(NaftikoError):
    """A port cannot be opened, or another startup resource is missing."""


@dataclass
class Served:
    kind: str
    namespace: str
    address: str
    port: int
    adapter: Any
    state: str = "stopped"
    tls: ssl.SSLContext | None = None  # `--tls-cert`: served over HTTPS
    declared_port: int = 0  # as the spec says (0: any free port), kept once bound

    def __post_init__(self) -> None:
        self.declared_port = self.port

    @property
    def url(self) -> str:
        host = self.address if ":" not in self.address else f"[{self.address}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


@dataclass
class Runtime:
    """Every adapter of every spec; `status()` feeds the control port."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    engines: list[Engine] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    stdio: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    drain: Drain = field(default_factory=Drain)
    origins: OriginPolicy = field(default_factory=OriginPolicy)
    # OpenTelemetry tracing, from the first control adapter's `observability` block.
    telemetry: Any = None
    specs: list[Path] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=dict)
    draining: bool = False
    reloader: Reloader | None = None
    # Set by the supervisor in each worker: the workers it runs, as `/status` lists them.
    workers: Callable[[], list[dict[str, Any]]] | None = None

    async def unready(self) -> list[str]:
        reasons = ["draining: the process is stopping"] if self.draining else []
        if self.settings.ready_upstreams:
            reasons += await unreachable(self.engines)
        return reasons

    async def reload(self) -> tuple[bool, str]:
        if self.workers is not None:
            # Every worker reloads: the supervisor builds the new version, then tells each.
            os.kill(os.getppid(), signal.SIGHUP)
            return True, "reload requested from the supervisor of every worker"
        if self.reloader is None:
            return False, "this runtime is not serving"
        return await self.reloader.reload()

    def status(self) -> dict[str, Any]:
        return {
            "capabilities": self.labels,
            "uptime_seconds": round(time.time() - self.started, 3),
            "draining": self.draining,
            "workers": self.workers() if self.workers else None,
            "adapters": [
                {
                    "type": s.kind,
                    "namespace": s.namespace,
                    "port": s.port,
                    "state": s.state,
                }
                for s in self.served
            ],
        }


def origin_policy(settings: Settings, environ: Mapping[str, str]) -> OriginPolicy:
    """Flags, then `NAFTIKO_ALLOW_ORIGINS` / `NAFTIKO_ALLOW_HOSTS` (comma or space lists,
    for containers); a malformed origin stops `run` with one line."""
    origins = [*settings.allow_origins, *_words(environ.get("NAFTIKO_ALLOW_ORIGINS", ""))]
    hosts = [*settings.allow_hosts, *_words(environ.get("NAFTIKO_ALLOW_HOSTS", ""))]
    try:
        return OriginPolicy.build(origins, hosts)
    except ValueError as exc:
        raise StartupError(f"--allow-origin: {exc}") from None


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[,\s]+", text) if w]


def build(
    specs: list[Path],
    settings: Settings,
    environ: Mapping[str, str],
    metrics: Metrics | None = None,
    *,
    transport: Callable[[Plan], Transport] | None = None,
) -> Runtime:
    """Load, bind and plan every spec; any problem raises before a port is opened.
    `transport` gives each engine its upstream transport (by default the pooled clients)."""
    runtime = Runtime(settings, origins=origin_policy(settings, environ))
    runtime.specs, runtime.environ = list(specs), dict(environ)
    if metrics is not None:
        runtime.metrics = metrics
    env = dict(environ)
    if settings.env_file is not None:
        env = {**read_env_file(settings.env_file), **env}
    plans = []
    for spec in specs:
        capability = load(spec)
        plan = build_plan(capability, resolve(capability, env))
        check_startup(plan)
        plans.append(plan)
        runtime.labels.append((capability.info.label if capability.info else None) or str(spec))
        runtime.metrics.capability(runtime.labels[-1])
    consumed = {ns: p.bindings.lookup for p in reversed(plans) for ns in p.clients}
    network = build_network(settings.proxy, settings.tls, consumed, env)
    for plan in plans:
        _start_tracing(runtime, plan, env)
    budget = Budget(settings.max_upstream_memory)  # shared by every engine of the runtime
    for plan in plans:
        engine = Engine(
            plan,
            settings.timeouts,
            settings.max_upstream_body,
            network,
            transport=transport(plan) if transport is not None else None,
            budget=budget,
        )
        engine.observe(runtime.telemetry, runtime.metrics)
        runtime.engines.append(engine)
        for i, exposed in enumerate(plan.capability.body.exposes):
            _add_adapter(runtime, plan, engine, i, exposed)
    _serve_tls(runtime)
    return runtime


def _start_tracing(runtime: Runtime, plan: Any, environ: Mapping[str, str]) -> None:
    """The first control adapter's `observability` block decides (SEMANTICS §8.4); the SDK
    is imported only when it turns tracing on."""
    if runtime.telemetry is not None:
        return
    control = next((a for a in plan.capability.body.exposes if isinstance(a, ExposesControl)), None)
    if control is None:
        return
    info = plan.capability.info
    label = (info.label if info else None) or "capability"
    config = tracing_config(control.observability, plan.bindings, label, environ)
    if config is not None:
        from naftiko.engine.telemetry import Telemetry

        runtime.telemetry = Telemetry(config)


def _serve_tls(runtime: Runtime) -> None:
    """`--tls-cert`: one context per certificate, each read (and checked) before any port
    opens; a namespace's own certificate over the one for every adapter."""
    named = {s.namespace for s in runtime.served}
    for cert in runtime.settings.tls.served:
        if cert.namespace is not None and cert.namespace not in named:
            raise CertificateError(f"--tls-cert {cert.namespace}: no adapter {cert.namespace!r}")
    contexts = {cert.namespace: server_context(cert) for cert in runtime.settings.tls.served}
    for served in runtime.served:
        served.tls = contexts.get(served.namespace) or contexts.get(None)


def _add_adapter(runtime: Runtime, plan: Any, engine: Engine, i: int, exposed: Any) -> None:
    settings = runtime.settings
    if settings.stdio and not isinstance(exposed, ExposesMcp):
        # `--stdio` serves the MCP adapter alone and opens no port: an MCP host starts one
        # process per client, and a second one must not find a port already taken.
        return
    address = settings.host or exposed.address or "127.0.0.1"
    adapter: Any
    if isinstance(exposed, ExposesRest):
        adapter = RestAdapter(rest_plan(plan, i, exposed), engine)
    elif isinstance(exposed, ExposesMcp):
        from naftiko.adapters.mcp import McpAdapter

        adapter = McpAdapter(mcp_plan(plan, i, exposed), engine, runtime.metrics, settings.max_body)
        if exposed.transport == "stdio" or settings.stdio:
            if runtime.stdio:
                # Two adapters cannot share one stdin.
                raise StartupError(f"only one MCP adapter can use stdio ({exposed.namespace!r})")
            runtime.stdio.append(adapter)
            return
    elif isinstance(exposed, ExposesSkill):
        from naftiko.adapters.skill import SkillAdapter

        adapter = SkillAdapter(plan, i, exposed, engine.upstreams)
    elif isinstance(exposed, ExposesControl):
        from naftiko.adapters.control import ControlAdapter

        adapter = ControlAdapter(plan, i, exposed, runtime, engine.upstreams)
    else:  # pragma: no cover - the model admits no other type
        return
    namespace = getattr(exposed, "namespace", None) or exposed.type
    # The adapter's ASGI app is its edge: everything every adapter does around a request.
    edge = Edge(
        adapter,
        origins=runtime.origins,
        cors=_cors(adapter, getattr(exposed, "authentication", None)),
        loopback=is_loopback(address),
        limits=BodyLimits(settings.max_body, settings.body_timeout, settings.max_header_bytes),
        drain=runtime.drain,
        metrics=runtime.metrics,
    )
    # With tracing on, the request's SERVER span encloses all of it, refusals included.
    adapter.app = traced(edge, runtime.telemetry, exposed.type, namespace)
    runtime.served.append(Served(exposed.type, namespace, address, exposed.port or 0, adapter))


def _cors(adapter: Any, auth: Any) -> Cors:
    """The request headers each kind of adapter reads, offered to allowed origins."""
    headers = {"authorization"}
    if isinstance(auth, ApiKeyAuth) and auth.placement == "header":
        headers.add(auth.key or "X-API-Key")
    if isinstance(adapter, RestAdapter):
        return Cors(frozenset(headers | adapter.header_inputs()))
    if adapter.kind == "mcp":
        mcp_headers = {"mcp-session-id", "mcp-protocol-version", "last-event-id"}
        return Cors(frozenset(headers | mcp_headers), ("Mcp-Session-Id",))
    return Cors(frozenset(headers))
