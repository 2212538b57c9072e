"""`naftiko run`: its flags → one validated `Settings` → the listeners (imported only here:
aiohttp, starlette, uvicorn and mcp load for `run` alone)."""

import gc
from pathlib import Path
from typing import Annotated

import typer

from naftiko.defaults import DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY


def run(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to serve.", show_default=False)],
    host: Annotated[
        str | None,
        typer.Option(help="Listen on this address instead of each adapter's own."),
    ] = None,
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="Read variables from a .env file.")
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    stdio: Annotated[
        bool,
        typer.Option(
            "--stdio", help="Serve the MCP adapter alone over stdin/stdout (opens no port)."
        ),
    ] = False,
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", help="Upstream connect timeout (s).")
    ] = 10.0,
    timeout: Annotated[float, typer.Option("--timeout", help="Upstream total timeout (s).")] = 60.0,
    max_body: Annotated[
        int, typer.Option("--max-body", help="Request body limit in bytes (all adapters).")
    ] = DEFAULT_MAX_BODY,
    max_upstream_body: Annotated[
        int,
        typer.Option("--max-upstream-body", help="Upstream response body limit in bytes."),
    ] = DEFAULT_MAX_UPSTREAM_BODY,
    header_timeout: Annotated[
        float,
        typer.Option("--header-timeout", help="Time a client has to send request headers (s)."),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option("--body-timeout", help="Longest pause inside a request body (s)."),
    ] = 10.0,
    keepalive_timeout: Annotated[
        int, typer.Option("--keepalive-timeout", help="Idle keep-alive connections close (s).")
    ] = 5,
    max_header_bytes: Annotated[
        int, typer.Option("--max-header-bytes", help="Request header limit in bytes (431).")
    ] = 64 * 1024,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Connections per port; 503 past it.")
    ] = DEFAULT_MAX_CONNECTIONS,
    drain_timeout: Annotated[
        float, typer.Option("--drain-timeout", help="Time in-flight requests get at shutdown (s).")
    ] = 10.0,
    drain_delay: Annotated[
        float,
        typer.Option(
            "--drain-delay",
            help="At shutdown, readiness turns 503 this long before the listeners close (s).",
        ),
    ] = 0.0,
    workers: Annotated[
        str,
        typer.Option("--workers", help="Worker processes sharing the ports: a number or auto."),
    ] = "1",
    watch: Annotated[
        bool, typer.Option("--watch", help="Reload when a spec or bind file changes.")
    ] = False,
    ready_upstreams: Annotated[
        bool,
        typer.Option(
            "--ready-upstreams", help="Readiness also needs every upstream to accept a connection."
        ),
    ] = False,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-origin",
            help="A browser origin allowed to call the adapters (CORS, MCP Origin check); "
            "repeatable; also NAFTIKO_ALLOW_ORIGINS.",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="A Host name a loopback listener accepts besides loopback names; "
            "repeatable; also NAFTIKO_ALLOW_HOSTS.",
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            help="Upstream calls go through this proxy (http://[user:pass@]host:port), over "
            "HTTP_PROXY/HTTPS_PROXY/ALL_PROXY.",
        ),
    ] = None,
    no_proxy: Annotated[
        str | None,
        typer.Option(
            "--no-proxy", help="Hosts reached directly (as NO_PROXY, which it overrides)."
        ),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option("--ca-bundle", help="PEM file of extra CAs trusted for upstream TLS."),
    ] = None,
    client_cert: Annotated[
        list[str] | None,
        typer.Option(
            "--client-cert",
            help="NAMESPACE=CERT[,KEY]: the client certificate of one consumed namespace "
            "(mutual TLS); repeatable.",
        ),
    ] = None,
    client_key_password: Annotated[
        list[str] | None,
        typer.Option(
            "--client-key-password",
            help="NAMESPACE=@FILE or NAMESPACE=VARIABLE (a bound variable): the passphrase of "
            "that namespace's client key; repeatable.",
        ),
    ] = None,
    tls_cert: Annotated[
        list[str] | None,
        typer.Option(
            "--tls-cert",
            help="[NAMESPACE=]FILE: serve HTTPS with this certificate chain (every adapter, or "
            "the one named); repeatable.",
        ),
    ] = None,
    tls_key: Annotated[
        list[str] | None,
        typer.Option("--tls-key", help="[NAMESPACE=]FILE: the key of that --tls-cert."),
    ] = None,
) -> None:
    """Serve every adapter of every spec until SIGTERM/SIGINT; SIGHUP reloads them."""
    # Start-up creates only objects that live as long as the process (modules, models, plans):
    # the cycle collector, run again and again over them, finds nothing to free. The runtime
    # collects once, freezes them and turns it back on, a second after it serves.
    gc.disable()
    from naftiko.engine.network import ProxyOptions
    from naftiko.engine.tls import ClientCert, TlsOptions, served_certs, split_namespace
    from naftiko.engine.upstream import Timeouts
    from naftiko.listeners import run as serve_forever
    from naftiko.settings import Settings
    from naftiko.supervisor import worker_count

    try:
        worker_total = worker_count(workers)
    except ValueError:
        raise typer.BadParameter(
            "must be a positive number or auto", param_hint="--workers"
        ) from None
    try:
        passwords = [split_namespace(p) for p in client_key_password or ()]
        if any(ns is None for ns, _ in passwords):
            raise ValueError("--client-key-password: expected NAMESPACE=@FILE or NAMESPACE=NAME")
        tls = TlsOptions(
            ca_bundle=ca_bundle,
            client_certs=tuple(ClientCert.parse(c) for c in client_cert or ()),
            key_passwords={ns: source for ns, source in passwords if ns is not None},
            served=served_certs(tls_cert or [], tls_key or []),
        )
        settings = Settings(
            host=host,
            env_file=env_file,
            log_level=log_level,
            log_format=log_format,
            timeouts=Timeouts(connect=connect_timeout, total=timeout),
            max_body=max_body,
            max_upstream_body=max_upstream_body,
            drain_seconds=drain_timeout,
            drain_delay=drain_delay,
            workers=worker_total,
            watch=watch,
            ready_upstreams=ready_upstreams,
            stdio=stdio,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keepalive_timeout=keepalive_timeout,
            max_header_bytes=max_header_bytes,
            max_connections=max_connections,
            allow_origins=tuple(allow_origin or ()),
            allow_hosts=tuple(allow_host or ()),
            proxy=ProxyOptions(proxy, no_proxy),
            tls=tls,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    serve_forever(specs, settings)
