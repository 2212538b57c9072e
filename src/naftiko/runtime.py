"""load → plan → engine → adapters → servers on their ports, in one process and one lifespan."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from naftiko.adapters.edge import Edge
from naftiko.adapters.limits import BodyLimits, Drain
from naftiko.adapters.origins import Cors, OriginPolicy, is_loopback
from naftiko.adapters.rest import RestAdapter
from naftiko.adapters.tracing import traced
from naftiko.defaults import DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import mcp_plan, rest_plan
from naftiko.engine.metrics import Metrics
from naftiko.engine.network import ProxyOptions, build_network
from naftiko.engine.plan import Plan, build_plan
from naftiko.engine.startup import check_startup
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY
from naftiko.engine.telemetry_config import tracing_config
from naftiko.engine.tls import CertificateError, TlsOptions, server_context
from naftiko.engine.tracing import TraceIds
from naftiko.engine.transport import Transport
from naftiko.engine.upstream import Timeouts
from naftiko.errors import NaftikoError
from naftiko.logbuffer import BufferedAccessHandler
from naftiko.model import ApiKeyAuth, ExposesControl, ExposesMcp, ExposesRest, ExposesSkill
from naftiko.readiness import unreachable
from naftiko.reload import Generation, Listener, Reloader, Swap, listener_key, watch
from naftiko.serving import (
    ClientLimits,
    connections_per_port,
    protocol_for,
    raise_fd_limit,
)
from naftiko.spec.bindings import read_env_file, resolve
from naftiko.spec.loader import load

log = logging.getLogger("naftiko")


class StartupError(NaftikoError):
    """A port cannot be opened, or another startup resource is missing."""


@dataclass(frozen=True)
class Settings:
    """Everything `naftiko run` can be told, built once from flags and the environment."""

    host: str | None = None
    env_file: Path | None = None
    log_level: str = "info"
    log_format: str = "text"
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_body: int = DEFAULT_MAX_BODY
    max_upstream_body: int = DEFAULT_MAX_UPSTREAM_BODY
    drain_seconds: float = 10.0
    stdio: bool = False
    # Browser origins allowed to call the adapters (CORS, MCP Origin check), and extra
    # `Host` names a loopback listener accepts besides loopback ones (DNS rebinding).
    allow_origins: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: int = 5  # whole seconds, as uvicorn takes it
    max_header_bytes: int = 64 * 1024
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    workers: int = 1
    # Seconds between readiness turning 503 and the listeners closing, so that a balancer
    # polling readiness stops sending first.
    drain_delay: float = 0.0
    ready_upstreams: bool = False  # readiness also asks that every upstream accepts a connection
    watch: bool = False  # reload when a spec or bind file changes
    # Outbound proxies and certificates (upstream trust, client certificates, adapter TLS).
    proxy: ProxyOptions = field(default_factory=ProxyOptions)
    tls: TlsOptions = field(default_factory=TlsOptions)

    def __post_init__(self) -> None:
        numbers = {
            "timeouts": min(self.timeouts.total, self.timeouts.connect),
            "max_body": self.max_body,
            "max_upstream_body": self.max_upstream_body,
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "keepalive_timeout": self.keepalive_timeout,
            "max_header_bytes": self.max_header_bytes,
            "max_connections": self.max_connections,
            "workers": self.workers,
        }
        for name, value in numbers.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_seconds < 0 or self.drain_delay < 0:
            raise ValueError("drain_seconds and drain_delay must not be negative")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("--log-level must be debug, info, warning or error")
        if self.log_format not in ("text", "json"):
            raise ValueError("--log-format must be text or json")


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
    for plan in plans:
        engine = Engine(
            plan,
            settings.timeouts,
            settings.max_upstream_body,
            network,
            transport=transport(plan) if transport is not None else None,
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


def _bind(served: Served, runtime: Runtime | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in served.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if runtime is not None and runtime.settings.workers > 1:
        # A port a reload opens in one worker is opened by every worker on its own.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((served.address, served.port))
    except OSError as exc:
        sock.close()
        reason = "already in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
        raise StartupError(
            f"cannot listen on {served.address}:{served.port} for {served.kind} adapter "
            f"{served.namespace!r}: {reason}"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    served.port = sock.getsockname()[1]
    return sock


async def serve(
    runtime: Runtime,
    ready: Callable[[Runtime], None] | None = None,
    *,
    sockets: Mapping[tuple[str, int], socket.socket] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, then drain in-flight requests (bounded) and stop; SIGHUP
    re-reads every spec and bind file (`reload.py`). `sockets` are ports a supervisor bound."""
    bound: dict[tuple[str, int], socket.socket | None] = dict(sockets or {})
    # Every port first: fail before serving any.
    listening = [bound.pop(listener_key(s), None) or _bind(s, runtime) for s in runtime.served]
    settings = runtime.settings
    per_port = connections_per_port(settings.max_connections, len(listening), raise_fd_limit())
    client_limits = ClientLimits(settings.header_timeout, settings.max_header_bytes, per_port)
    protocol = protocol_for(client_limits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def start_listener(
        served: Served, app: Any, sock: socket.socket | None = None
    ) -> uvicorn.Server:
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=protocol,
            # uvicorn answers 503 from the limit-th connection (its count includes the one
            # asking), so the limit it is given is one more than ours.
            limit_concurrency=per_port + 1,
            timeout_keep_alive=settings.keepalive_timeout,
            # A backstop only: the drain below answers and ends every request in time.
            timeout_graceful_shutdown=math.ceil(settings.drain_seconds) + 5,
            server_header=False,
            date_header=False,  # the edge stamps one (uvicorn's needs its own main loop)
            # Forwarded-header rewriting is a proxy's job, and costs on every request.
            proxy_headers=False,
            ssl_context_factory=_given(served.tls) if served.tls else None,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock or _bind(served, runtime)])
        served.state = "started"
        log.info("%s adapter %s listening on %s", served.kind, served.namespace, served.url)
        return server

    async def stop_listener(server: uvicorn.Server) -> None:
        server.should_exit = True
        await server.shutdown(sockets=[])

    current = Generation(runtime)
    await current.open()
    reloader = Reloader(
        lambda old: _rebuilt(old),
        start_listener,
        stop_listener,
        settings.drain_seconds,
        current,
    )
    runtime.reloader = reloader
    for served, sock in zip(runtime.served, listening, strict=True):
        swap = Swap(served.adapter.app)
        server = await start_listener(served, swap, sock)
        key = listener_key(served)
        reloader.listeners[key] = Listener(swap, server, served, key)
    loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(reloader.reload()))
    # Everything built so far (modules, models, plans) lives as long as the process: the
    # cycle collector need not walk it again and again while requests are served. A second
    # after the ports answer: a full collection takes tens of milliseconds that the first
    # requests need not wait for.
    loop.call_later(1.0, _freeze_start_up)
    tasks = [asyncio.create_task(a.run_stdio(stop)) for a in runtime.stdio]
    if ready is not None:
        ready(runtime)
    await stop.wait()
    loop.remove_signal_handler(signal.SIGHUP)
    async with reloader.lock:  # a reload under way completes first
        live = reloader.current.runtime
        live.draining = True  # readiness answers 503 from now on
        if settings.drain_delay:
            log.info("stopping: not ready; listeners close in %g s", settings.drain_delay)
            await asyncio.sleep(settings.drain_delay)
        log.info("stopping: draining in-flight requests")
        servers = [listener.server for listener in reloader.listeners.values()]
        await _drain(servers, live.drain, settings.drain_seconds)
        for listener in reloader.listeners.values():
            listener.served.state = "stopped"
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("stdio adapter failed: %s", outcome)
        await reloader.close()


_background: set[asyncio.Task[Any]] = set()


def _spawn(work: Any) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def _rebuilt(old: Runtime) -> Runtime:
    """The next version from the same files and flags; the counters carry on."""
    new = build(old.specs, old.settings, old.environ, metrics=old.metrics)
    new.started, new.workers, new.reloader = old.started, old.workers, old.reloader
    return new


def _given(context: ssl.SSLContext) -> Callable[[Any, Any], ssl.SSLContext]:
    """uvicorn's hook for a context built elsewhere (ours were checked in `build`)."""
    return lambda _config, _default: context


async def _drain(servers: list[uvicorn.Server], drain: Drain, seconds: float) -> None:
    """Listeners close at once and idle connections are dropped; requests in flight get
    `seconds` to finish, then each one still running is answered 503 by its edge."""
    drain.start()
    for server in servers:
        server.should_exit = True
    shutdowns = asyncio.gather(*(s.shutdown(sockets=[]) for s in servers))
    try:
        await asyncio.wait_for(asyncio.shield(shutdowns), seconds)
    except TimeoutError:
        cut = drain.finish()
        log.warning("drain timeout (%g s): %d request(s) answered 503", seconds, cut)
        await shutdowns


def run(specs: list[Path], settings: Settings) -> None:
    """The blocking entry point used by the CLI."""
    configure_logging(settings)

    def announce(rt: Runtime) -> None:
        stream = sys.stderr if settings.stdio or rt.stdio else sys.stdout
        for served in rt.served:
            print(
                f"{served.kind:8} {served.namespace:30} {served.url}",
                file=stream,
                flush=True,
            )
        if rt.stdio:
            print("mcp      stdio", file=stream, flush=True)

    stop_watching = threading.Event()
    if settings.watch:
        folders = sorted({p.resolve().parent for p in [*specs, *filter(None, [settings.env_file])]})
        pid = os.getpid()  # the supervisor's, in worker mode: it reloads every worker
        threading.Thread(
            target=watch,
            args=(folders, stop_watching, lambda: os.kill(pid, signal.SIGHUP)),
            daemon=True,
        ).start()
    try:
        if settings.workers > 1 and not settings.stdio:
            from naftiko.supervisor import Supervisor

            gc.enable()  # the supervisor never serves; each worker freezes its own start

            Supervisor(specs, settings, _serve_in_loop).run(announce)
            return
        _serve_in_loop(build(specs, settings, os.environ), announce)
    finally:
        stop_watching.set()


def _freeze_start_up() -> None:
    gc.collect()
    gc.freeze()
    gc.enable()  # `naftiko run` starts with it off (cli.run)


def _serve_in_loop(
    runtime: Runtime,
    ready: Callable[[Runtime], None] | None = None,
    sockets: Mapping[tuple[str, int], socket.socket] | None = None,
) -> None:
    try:
        import uvloop

        uvloop.run(serve(runtime, ready, sockets=sockets))
    except ImportError:
        asyncio.run(serve(runtime, ready, sockets=sockets))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "trace_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        return json.dumps(entry)


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """A request's path or value logged as text cannot start a line of its own."""
    return _CONTROLS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _TextFormatter(logging.Formatter):
    """One record, one line: control characters in the message are escaped, so a caller's
    value cannot forge a second log line (a traceback, ours, still follows as lines)."""

    _second = -1
    _stamp = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        trace_id = getattr(record, "trace_id", None)
        if trace_id is not None:
            record.message += f" trace_id={trace_id}"
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # logging's own text (`2026-11-30 09:10:11,123`), with strftime run once a second.
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second, self._stamp = second, stamp
        if self.default_msec_format is None:
            return self._stamp
        return self.default_msec_format % (self._stamp, record.msecs)


def configure_logging(settings: Settings) -> None:
    handler = BufferedAccessHandler(sys.stderr)
    # No format of ours shows a record's thread, process or source line: not looked up for
    # every line (the caller's frame walk alone was ~1% of a request under load).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.setLevel(logging.WARNING)
    uvicorn_log.addFilter(_said_already)
    # The MCP SDK logs every stateless request's session teardown at INFO.
    logging.getLogger("mcp").setLevel(logging.WARNING)


def _said_already(record: logging.LogRecord) -> bool:
    """A pass-through body cut short (the upstream broke, or passed --max-upstream-body) is
    logged by the edge, with its reason; uvicorn's line for the same event adds nothing."""
    return record.getMessage() != "ASGI callable returned without completing response."


def health(spec: Path, timeout: float = 2.0) -> tuple[bool, str]:
    """For container health checks: the control port's readiness when the spec has one,
    else whether every adapter port accepts connections."""
    capability = load(spec)
    adapters = [a for a in capability.body.exposes if a.port]
    control = next((a for a in adapters if isinstance(a, ExposesControl)), None)
    if control is not None and control.management.health and control.port:
        url = f"http://{_local(control.address)}:{control.port}/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.status == 200, f"{url}: {answer.status}"
        except urllib.error.HTTPError as exc:
            return False, f"{url}: {exc.code}"
        except OSError as exc:
            return False, f"{url}: {exc}"
    for adapter in adapters:
        address = (_local(adapter.address), adapter.port or 0)
        try:
            socket.create_connection(address, timeout=timeout).close()
        except OSError as exc:
            return False, f"{adapter.type} port {address[1]}: {exc.strerror or exc}"
    return True, f"{len(adapters)} adapter port(s) accept connections"


def _local(address: str | None) -> str:
    """Where to reach an adapter from inside its own host or container."""
    return "127.0.0.1" if address in (None, "", "0.0.0.0", "::") else address
