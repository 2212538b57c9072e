"""The `naftiko` command: flags → settings → one call into the library; errors → exit codes."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from naftiko.cli_authoring import create_app, export_app, import_app
from naftiko.cli_control import health, metrics, status, traces
from naftiko.cli_run import run
from naftiko.errors import NaftikoError, Problem
from naftiko.version import SPEC_VERSION, __version__

# Each command imports what it needs inside its function: `--version` needs none of it,
# `validate` the loader (pydantic) but not the servers, only `run` and `health` the runtime
# (aiohttp, starlette, uvicorn, mcp). Start-up time is a feature (issue 13, goal 4).
# No `from __future__ import annotations` in the cli modules: typer reads every command's
# signature on each invocation, and string annotations would be compiled and evaluated anew
# each time (~100 of them, ~20 ms); evaluated at import, they come from the bytecode cache.

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


app.command()(run)
for command in (health, status, metrics, traces):
    app.command()(command)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(create_app, name="create")


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
