"""The `naftiko` command: flags → settings → one call into the library; errors → exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from naftiko.adapters.rest import DEFAULT_MAX_BODY
from naftiko.engine.upstream import Timeouts
from naftiko.errors import NaftikoError, Problem, SpecError
from naftiko.runtime import Settings
from naftiko.runtime import health as runtime_health
from naftiko.runtime import run as serve_forever
from naftiko.spec.loader import SPEC_VERSION, load
from naftiko.spec.source import parse, read_text
from naftiko.version import __version__

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
        int, typer.Option("--max-body", help="Request body limit in bytes.")
    ] = DEFAULT_MAX_BODY,
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
) -> None:
    """Serve every adapter of every spec until SIGTERM/SIGINT."""
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("must be debug, info, warning or error", param_hint="--log-level")
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    if connect_timeout <= 0 or timeout <= 0 or max_body <= 0:
        raise typer.BadParameter("timeouts and --max-body must be positive")
    settings = Settings(
        host=host,
        env_file=env_file,
        log_level=log_level,
        log_format=log_format,
        timeouts=Timeouts(connect=connect_timeout, total=timeout),
        max_body=max_body,
        stdio=stdio,
        allow_origins=tuple(allow_origin or ()),
        allow_hosts=tuple(allow_host or ()),
    )
    serve_forever(specs, settings)


@app.command()
def health(
    spec: Annotated[Path, typer.Argument(help="The spec being served.", show_default=False)],
) -> None:
    """Exit 0 when the served spec is healthy (its control port's readiness, or its ports)."""
    ok, detail = runtime_health(spec)
    typer.echo(f"{'healthy' if ok else 'unhealthy'}: {detail}")
    raise typer.Exit(0 if ok else 1)


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
