"""The `naftiko` command: flags → settings → one call into the library; errors → exit codes."""

import gc
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from naftiko.defaults import DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY
from naftiko.errors import NaftikoError, Problem
from naftiko.version import SPEC_VERSION, __version__

# Each command imports what it needs inside its function: `--version` needs none of it,
# `validate` the loader (pydantic) but not the servers, only `run` and `health` the runtime
# (aiohttp, starlette, uvicorn, mcp). Start-up time is a feature (issue 13, goal 4).
# No `from __future__ import annotations` here: typer reads every command's signature on
# each invocation, and string annotations would be compiled and evaluated anew each time
# (~100 of them, ~20 ms); evaluated at import, they come from the bytecode cache.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Run and check Naftiko capability specs (1.0.0-alpha2).",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"naftiko {__version__} (spec {SPEC_VERSION})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Run and check Naftiko capability specs."""


def _problem_json(problem: Problem) -> dict[str, Any]:
    loc = problem.location
    return {
        "file": loc.file,
        "line": loc.line,
        "column": loc.column,
        "path": loc.path,
        "message": problem.message,
    }


def _check_file(file: str, strict: bool) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for one file."""
    from naftiko.errors import SpecError
    from naftiko.spec.loader import load
    from naftiko.spec.source import parse, read_text

    try:
        capability = load(file)
    except SpecError as exc:
        return exc.problems, []
    errors: list[Problem] = []
    if strict:
        # Imported here: jsonschema is only needed by `--strict`, not by `run`'s start-up.
        from naftiko.spec.schema import schema_problems

        errors = schema_problems(parse(read_text(Path(file), file), file))
    return errors, capability.warnings


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Spec files to check.", show_default=False)],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show warnings.")] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also check the official alpha2 JSON Schema."),
    ] = False,
    output: Annotated[
        str,
        typer.Option("--format", help="Output format: text or json.", metavar="text|json"),
    ] = "text",
) -> None:
    """Check spec files: `ok FILE` or each problem as FILE:LINE:COL: path: message."""
    if output not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    results = []
    failed = False
    for file in files:
        errors, warnings = _check_file(file, strict)
        failed = failed or bool(errors)
        results.append((file, errors, warnings))
    if output == "json":
        doc = [
            {
                "file": file,
                "valid": not errors,
                "errors": [_problem_json(p) for p in errors],
                "warnings": [_problem_json(p) for p in warnings],
            }
            for file, errors, warnings in results
        ]
        typer.echo(json.dumps(doc, indent=2))
    else:
        for file, errors, warnings in results:
            if verbose:
                for warning in warnings:
                    typer.echo(f"{warning.location}: warning: {warning.message}")
            if errors:
                for error in errors:
                    typer.echo(f"{error}", err=False)
                typer.echo(f"invalid {file} ({len(errors)} error{'s' * (len(errors) != 1)})")
            else:
                count = len(warnings)
                typer.echo(f"ok {file} ({count} warning{'s' * (count != 1)})")
    raise typer.Exit(1 if failed else 0)


@app.command()
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
    from naftiko.runtime import Settings
    from naftiko.runtime import run as serve_forever
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


_ADDRESS = typer.Option("--address", help="Control port address (or NAFTIKO_CONTROL_ADDRESS).")
_PORT = typer.Option("--port", help="Control port (or NAFTIKO_CONTROL_PORT).")


def _control(address: str | None, port: int | None, spec: Path | None = None) -> Any:
    import os

    from naftiko.tools import control_client

    return control_client, control_client.locate(address, port, os.environ, Path.cwd(), spec)


@app.command()
def health(
    spec: Annotated[
        Path | None, typer.Argument(help="The spec being served.", show_default=False)
    ] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """Liveness and readiness of a running capability; exit 0 iff ready."""
    if spec is not None and address is None and port is None and not _has_control(spec):
        from naftiko.runtime import health as runtime_health

        ok, detail = runtime_health(spec)  # no control port: are the adapters' ports open?
        typer.echo(f"{'healthy' if ok else 'unhealthy'}: {detail}")
        raise typer.Exit(0 if ok else 1)
    client, where = _control(address, port, spec)
    ok, lines = client.health_lines(
        client.get(where, "/health/live"), client.get(where, "/health/ready")
    )
    typer.echo("\n".join(lines))
    raise typer.Exit(0 if ok else 1)


def _has_control(spec: Path) -> bool:
    from naftiko.spec.loader import load

    return any(a.type == "control" and a.port for a in load(spec).body.exposes)


@app.command()
def status(
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """The running capability's status (needs `management.info: true`)."""
    client, where = _control(address, port)
    answer = client.get(where, "/status")
    if answer.status != 200:
        typer.echo(f"status unavailable ({answer.status}): enable management.info", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(answer.json(), indent=2))


@app.command()
def metrics(
    filter_: Annotated[
        str | None, typer.Option("--filter", help="Only lines matching this regex.")
    ] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """The Prometheus metrics of the running capability."""
    client, where = _control(address, port)
    answer = client.get(where, "/metrics")
    if answer.status != 200:
        typer.echo(f"Metrics unavailable ({answer.status}).", err=True)
        raise typer.Exit(1)
    try:
        text = client.filtered(answer.body.decode(), filter_)
    except re.error as exc:
        raise typer.BadParameter(str(exc), param_hint="--filter") from None
    typer.echo(text, nl=False)


@app.command()
def traces(
    trace_id: Annotated[
        str | None, typer.Argument(help="A trace id: its span tree.", show_default=False)
    ] = None,
    operation: Annotated[str | None, typer.Option("--operation")] = None,
    status: Annotated[str | None, typer.Option("--status", help="OK or ERROR.")] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """Recent traces of the running capability, or one trace's span tree."""
    from urllib.parse import quote, urlencode

    client, where = _control(address, port)
    if trace_id is not None:
        answer = client.get(where, f"/traces/{quote(trace_id, safe='')}")
    else:
        query = {k: v for k, v in (("operation", operation), ("status", status)) if v}
        answer = client.get(where, "/traces" + (f"?{urlencode(query)}" if query else ""))
    if answer.status != 200:
        what = (
            f"trace {trace_id} not found"
            if answer.status == 404 and trace_id
            else (f"traces unavailable ({answer.status}): enable observability traces.local")
        )
        typer.echo(what, err=True)
        raise typer.Exit(1)
    body = answer.json()
    lines = client.trace_lines(body) if trace_id else client.list_lines(body)
    typer.echo("\n".join(lines))


import_app = typer.Typer(no_args_is_help=True, help="Write Naftiko specs from other descriptions.")
export_app = typer.Typer(no_args_is_help=True, help="Write other descriptions from a spec.")
create_app = typer.Typer(no_args_is_help=True, help="Write a new spec.")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(create_app, name="create")

_FORMAT = typer.Option("--format", "-f", help="yaml or json.", metavar="yaml|json")


def _write(text: str, output: str) -> None:
    """`-` is stdout; a file is written whole, then named on stderr."""
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {output}: {exc.strerror}", param_hint="-o"
        ) from None
    typer.echo(f"wrote {output}", err=True)


def _check_format(output_format: str) -> None:
    if output_format not in ("yaml", "json"):
        raise typer.BadParameter("must be yaml or json", param_hint="--format")


@import_app.command("openapi")
def import_openapi(
    source: Annotated[Path, typer.Argument(help="OpenAPI 3.x or Swagger 2.0 file (YAML or JSON).")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write ('-' for stdout); default ./<namespace>-consumes.yml, or "
            "./<namespace>.naftiko.yaml with --capability.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Consumes namespace (default: from info.title)."),
    ] = None,
    output_format: Annotated[str, _FORMAT] = "yaml",
    capability: Annotated[
        bool,
        typer.Option(
            "--capability", help="Write a runnable capability: consumes + REST + MCP adapters."
        ),
    ] = False,
    rest_port: Annotated[int, typer.Option("--rest-port", help="REST adapter port.")] = 8080,
    mcp_port: Annotated[int, typer.Option("--mcp-port", help="MCP adapter port.")] = 9090,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Only what the official JSON Schema allows (validate --strict passes; "
            "fewer checks before the upstream call).",
        ),
    ] = False,
) -> None:
    """Write the consumes document (or, with --capability, a whole capability) for an API."""
    _check_format(output_format)
    from naftiko.tools.importer import import_openapi as convert
    from naftiko.tools.importer import render

    imported = convert(
        source,
        namespace=namespace,
        capability=capability,
        output_format=output_format,
        rest_port=rest_port,
        mcp_port=mcp_port,
        schema_strict=strict,
    )
    for warning in imported.warnings:
        typer.echo(f"{warning.location}: warning: {warning.message}", err=True)
    _write(render(imported.document, output_format), output or imported.default_output)


@export_app.command("openapi")
def export_openapi(
    spec: Annotated[Path, typer.Argument(help="The capability spec.", show_default=False)],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="File to write ('-' for stdout); default ./openapi.<format>."
        ),
    ] = None,
    output_format: Annotated[str, _FORMAT] = "yaml",
    adapter: Annotated[
        str | None,
        typer.Option("--adapter", "-a", help="REST adapter namespace (default: the first)."),
    ] = None,
    spec_version: Annotated[
        str, typer.Option("--spec-version", help="OpenAPI 3.1 or 3.0.", metavar="3.0|3.1")
    ] = "3.1",
) -> None:
    """Write the OpenAPI document the REST adapter serves at /openapi.json."""
    _check_format(output_format)
    if spec_version not in ("3.0", "3.1"):
        raise typer.BadParameter("must be 3.0 or 3.1", param_hint="--spec-version")
    from naftiko.tools.export import export_openapi as build
    from naftiko.tools.importer import render_plain

    document = build(spec, adapter=adapter, spec_version=spec_version)
    _write(render_plain(document, output_format), output or f"openapi.{output_format}")


@create_app.command("capability")
def create_capability(
    name: Annotated[str | None, typer.Option("--name", help="Capability name.")] = None,
    base_uri: Annotated[
        str | None, typer.Option("--base-uri", "--target", help="Upstream base URI.")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="REST adapter port.")] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="File to write ('-' for stdout); default ./<name>.naftiko.yaml."
        ),
    ] = None,
    output_format: Annotated[str, _FORMAT] = "yaml",
) -> None:
    """A new capability forwarding a REST port to one upstream; prompts for what flags omit."""
    _check_format(output_format)
    from naftiko.tools.create import NewCapability, capability_document, check, default_file
    from naftiko.tools.importer import render

    name = name if name is not None else typer.prompt("Capability name")
    base_uri = base_uri if base_uri is not None else typer.prompt("Target URI")
    port = port if port is not None else typer.prompt("Port", default=8080, type=int)
    new = NewCapability(name=name.strip(), base_uri=base_uri.strip(), port=port)
    problems = check(new)
    if problems:
        raise typer.BadParameter("; ".join(problems))
    _write(render(capability_document(new), output_format), output or default_file(new))


def main() -> None:
    """Console entry point: library errors become one line on stderr and exit code 1."""
    try:
        app()
    except NaftikoError as exc:
        print(f"naftiko: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # The outermost edge: a fault of ours still ends in one line, never a traceback.
        print(f"naftiko: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
