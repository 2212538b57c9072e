"""Serving a built `Runtime`: every port bound first, a uvicorn server per listener
(behind a reload `Swap`), the stdio adapter, signals, and the bounded drain at the end; `run`
is the blocking entry point of `naftiko run`."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import resource
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from naftiko.adapters.limits import Drain
from naftiko.logs import configure_logging
from naftiko.reload import Generation, Listener, Reloader, Swap, listener_key, watch
from naftiko.runtime import Runtime, Served, StartupError, build
from naftiko.serving import protocol_for
from naftiko.serving_limits import ClientLimits
from naftiko.settings import Settings

log = logging.getLogger("naftiko")


def bind(served: Served, runtime: Runtime | None = None) -> socket.socket:
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
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, then drain in-flight requests (bounded) and stop; SIGHUP
    re-reads every spec and bind file (`reload.py`). `sockets` are ports a supervisor bound.
    Given `stop`, the process is not ours: that event ends the run, and no signal handler is
    installed (signals reach only the main thread: the tests serve from another one)."""
    bound: dict[tuple[str, int], socket.socket | None] = dict(sockets or {})
    # Every port first: fail before serving any.
    listening = [bound.pop(listener_key(s), None) or bind(s, runtime) for s in runtime.served]
    settings = runtime.settings
    per_port = connections_per_port(settings.max_connections, len(listening), raise_fd_limit())
    client_limits = ClientLimits(
        settings.header_timeout, settings.max_header_bytes, per_port, settings.send_timeout
    )
    protocol = protocol_for(client_limits)
    owns_process = stop is None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if owns_process:
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
            http=protocol,  # serving.py: the connection limit is its own
            # Said, not guessed: `Swap` returns the app's coroutine without being one.
            interface="asgi3",
            timeout_keep_alive=settings.keepalive_timeout,
            # A backstop only: the drain below answers and ends every request in time.
            timeout_graceful_shutdown=math.ceil(settings.drain_seconds) + 5,
            server_header=False,
            date_header=False,  # the edge stamps one (uvicorn's needs its own main loop)
            # Forwarded-header rewriting is a proxy's job, and costs on every request.
            proxy_headers=False,
            ssl_context_factory=_given(served.tls) if served.tls else None,
            ws=_WebSockets,
        )
        config.load()
        server = _Server(config, client_limits.header_seconds)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock or bind(served, runtime)])
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
    if owns_process:
        loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(reloader.reload()))
        # The CLI held SIGHUP while the process started: one sent meanwhile reloads now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        # Everything built so far (modules, models, plans) lives as long as the process: the
        # cycle collector need not walk it again and again while requests are served. A
        # second after the ports answer: a full collection takes tens of milliseconds that
        # the first requests need not wait for.
        loop.call_later(1.0, _freeze_start_up)
    tasks = [asyncio.create_task(a.run_stdio(stop)) for a in runtime.stdio]
    if ready is not None:
        ready(runtime)
    await stop.wait()
    if owns_process:
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


class _Server(uvicorn.Server):
    """uvicorn's server on our bound sockets, with one bound its start lacks: a TLS handshake
    not done within `--header-timeout` is dropped (asyncio's default held a silent or
    half-done one for 60 s, before any protocol, so outside every other limit)."""

    def __init__(self, config: uvicorn.Config, handshake_seconds: float) -> None:
        super().__init__(config)
        self.handshake_seconds = handshake_seconds

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        config, loop = self.config, asyncio.get_running_loop()

        protocol: Any = config.http_protocol_class

        def connection() -> asyncio.Protocol:
            made: asyncio.Protocol = protocol(
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        handshake = self.handshake_seconds if config.ssl else None  # only meaningful with TLS
        self.servers = [
            await loop.create_server(
                connection,
                sock=sock,
                ssl=config.ssl,
                backlog=config.backlog,
                ssl_handshake_timeout=handshake,
            )
            for sock in sockets or ()
        ]
        self.started = True


class _WebSockets(asyncio.Protocol):
    """uvicorn's own WebSocket protocol (`ws="auto"`), imported at the first upgrade request
    instead of when each listener's config loads (~14 ms of `naftiko run`'s start): no adapter
    serves WebSockets, so a handshake is answered exactly as before, only later imported."""

    def __new__(cls, **kwargs: Any) -> Any:
        from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

        assert AutoWebSocketsProtocol is not None  # uvicorn[standard] brings `websockets`
        return AutoWebSocketsProtocol(**kwargs)


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


# The collector's first threshold, 700 container objects by default, is below what 32 requests
# in flight hold at once: it ran every ~20 requests and found nothing to collect (requests
# make no reference cycles), a twentieth of a request's instructions. Cycles made by an
# error path are still collected, after 10,000 allocations instead of 700.
YOUNG_COLLECTION = (10_000, 10, 10)


def _freeze_start_up() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*YOUNG_COLLECTION)
    gc.enable()  # `naftiko run` starts with it off (cli_run.run)


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


_RESERVED_FDS = 64  # log files, upstream DNS, the spec's served files


def raise_fd_limit() -> int:
    """Lift the soft file descriptor limit to the hard one (as Go's runtime does); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connections_per_port(wanted: int, ports: int, fd_limit: int) -> int:
    """At most `wanted` connections per port, fewer when the descriptors cannot cover them
    all: each served request may hold a client socket and an upstream socket."""
    budget = max(fd_limit - _RESERVED_FDS, 16) // (2 * max(ports, 1))
    return max(1, min(wanted, budget))
