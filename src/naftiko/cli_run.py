"""`naftiko run`: its flags → one validated `Settings` → the listeners (imported only here:
aiohttp, starlette and uvicorn load for `run` alone)."""

from __future__ import annotations

import gc
from pathlib import Path

import click

from naftiko.defaults import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UPSTREAM_MEMORY,
)
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY

_PATH = click.Path(path_type=Path)


@click.command()
@click.argument("specs", nargs=-1, required=True, type=_PATH, help="Spec files to serve.")
@click.option("--host", help="Listen on this address instead of each adapter's own.")
@click.option("--env-file", type=_PATH, help="Read variables from a .env file.")
@click.option("--log-level", default="info", help="debug, info, warning or error.")
@click.option("--log-format", default="text", help="text or json.")
@click.option(
    "--stdio", is_flag=True, help="Serve the MCP adapter alone over stdin/stdout (opens no port)."
)
@click.option("--connect-timeout", default=10.0, help="Upstream connect timeout (s).")
@click.option("--timeout", default=60.0, help="Upstream total timeout (s).")
@click.option(
    "--max-body", default=DEFAULT_MAX_BODY, help="Request body limit in bytes (all adapters)."
)
@click.option(
    "--max-upstream-body",
    default=DEFAULT_MAX_UPSTREAM_BODY,
    help="Upstream response body limit in bytes.",
)
@click.option(
    "--max-upstream-memory",
    default=DEFAULT_MAX_UPSTREAM_MEMORY,
    help="Upstream bodies held in memory by all requests at once, in bytes; past it: 503.",
)
@click.option(
    "--header-timeout", default=10.0, help="Time a client has to send request headers (s)."
)
@click.option("--body-timeout", default=10.0, help="Longest pause inside a request body (s).")
@click.option(
    "--send-timeout", default=60.0, help="Longest a client may leave its answer unread (s)."
)
@click.option("--keepalive-timeout", default=5, help="Idle keep-alive connections close (s).")
@click.option("--max-header-bytes", default=64 * 1024, help="Request header limit in bytes (431).")
@click.option(
    "--max-connections", default=DEFAULT_MAX_CONNECTIONS, help="Connections per port; 503 past it."
)
@click.option("--drain-timeout", default=10.0, help="Time in-flight requests get at shutdown (s).")
@click.option(
    "--drain-delay",
    default=0.0,
    help="At shutdown, readiness turns 503 this long before the listeners close (s).",
)
@click.option(
    "--workers", default="1", help="Worker processes sharing the ports: a number or auto."
)
@click.option("--watch", is_flag=True, help="Reload when a spec or bind file changes.")
@click.option(
    "--ready-upstreams",
    is_flag=True,
    help="Readiness also needs every upstream to accept a connection.",
)
@click.option(
    "--allow-origin",
    multiple=True,
    help="A browser origin allowed to call the adapters (CORS, MCP Origin check); "
    "repeatable; also NAFTIKO_ALLOW_ORIGINS.",
)
@click.option(
    "--allow-host",
    multiple=True,
    help="A Host name a loopback listener accepts besides loopback names; "
    "repeatable; also NAFTIKO_ALLOW_HOSTS.",
)
@click.option(
    "--proxy",
    help="Upstream calls go through this proxy (http://[user:pass@]host:port), over "
    "HTTP_PROXY/HTTPS_PROXY/ALL_PROXY.",
)
@click.option("--no-proxy", help="Hosts reached directly (as NO_PROXY, which it overrides).")
@click.option("--ca-bundle", type=_PATH, help="PEM file of extra CAs trusted for upstream TLS.")
@click.option(
    "--client-cert",
    multiple=True,
    help="NAMESPACE=CERT[,KEY]: the client certificate of one consumed namespace "
    "(mutual TLS); repeatable.",
)
@click.option(
    "--client-key-password",
    multiple=True,
    help="NAMESPACE=@FILE or NAMESPACE=VARIABLE (a bound variable): the passphrase of "
    "that namespace's client key; repeatable.",
)
@click.option(
    "--tls-cert",
    multiple=True,
    help="[NAMESPACE=]FILE: serve HTTPS with this certificate chain (every adapter, or "
    "the one named); repeatable.",
)
@click.option("--tls-key", multiple=True, help="[NAMESPACE=]FILE: the key of that --tls-cert.")
def run(
    specs: tuple[Path, ...],
    host: str | None,
    env_file: Path | None,
    log_level: str,
    log_format: str,
    stdio: bool,
    connect_timeout: float,
    timeout: float,
    max_body: int,
    max_upstream_body: int,
    max_upstream_memory: int,
    header_timeout: float,
    body_timeout: float,
    send_timeout: float,
    keepalive_timeout: int,
    max_header_bytes: int,
    max_connections: int,
    drain_timeout: float,
    drain_delay: float,
    workers: str,
    watch: bool,
    ready_upstreams: bool,
    allow_origin: tuple[str, ...],
    allow_host: tuple[str, ...],
    proxy: str | None,
    no_proxy: str | None,
    ca_bundle: Path | None,
    client_cert: tuple[str, ...],
    client_key_password: tuple[str, ...],
    tls_cert: tuple[str, ...],
    tls_key: tuple[str, ...],
) -> None:
    """Serve every adapter of every spec until SIGTERM/SIGINT; SIGHUP reloads them."""
    # Start-up creates only objects that live as long as the process (modules, models, plans):
    # the cycle collector, run again and again over them, finds nothing to free. The runtime
    # collects once, freezes them and turns it back on, a second after it serves.
    gc.disable()
    # The flags are checked before the servers and the upstream client are imported: a
    # usage error costs a CLI start (~0.1 s), not a runtime's (~0.5 s).
    from naftiko.engine.options import ProxyOptions, Timeouts
    from naftiko.engine.tls import ClientCert, TlsOptions, served_certs, split_namespace
    from naftiko.settings import Settings, worker_count

    try:
        worker_total = worker_count(workers)
    except ValueError:
        raise click.BadParameter(
            "must be a positive number or auto", param_hint="--workers"
        ) from None
    try:
        passwords = [split_namespace(p) for p in client_key_password]
        if any(ns is None for ns, _ in passwords):
            raise ValueError("--client-key-password: expected NAMESPACE=@FILE or NAMESPACE=NAME")
        tls = TlsOptions(
            ca_bundle=ca_bundle,
            client_certs=tuple(ClientCert.parse(c) for c in client_cert),
            key_passwords={ns: source for ns, source in passwords if ns is not None},
            served=served_certs(list(tls_cert), list(tls_key)),
        )
        settings = Settings(
            host=host,
            env_file=env_file,
            log_level=log_level,
            log_format=log_format,
            timeouts=Timeouts(connect=connect_timeout, total=timeout),
            max_body=max_body,
            max_upstream_body=max_upstream_body,
            max_upstream_memory=max_upstream_memory,
            drain_seconds=drain_timeout,
            drain_delay=drain_delay,
            workers=worker_total,
            watch=watch,
            ready_upstreams=ready_upstreams,
            stdio=stdio,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            send_timeout=send_timeout,
            keepalive_timeout=keepalive_timeout,
            max_header_bytes=max_header_bytes,
            max_connections=max_connections,
            allow_origins=allow_origin,
            allow_hosts=allow_host,
            proxy=ProxyOptions(proxy, no_proxy),
            tls=tls,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    from naftiko.listeners import run as serve_forever

    serve_forever(list(specs), settings)
