"""The `naftiko` command: flags → settings → one call into the library; errors → exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from naftiko.cli_authoring import create_capability, export_openapi, import_openapi
from naftiko.cli_control import health, metrics, status, traces
from naftiko.cli_run import run
from naftiko.errors import NaftikoError, Problem
from naftiko.version import SPEC_VERSION, __version__

# Each command imports what it needs inside its function: `--version` needs none of it,
# `validate` the loader (pydantic) but not the servers, only `run` and `health` the runtime
# (aiohttp, starlette, uvicorn). Start-up time is a feature (issue 13, goal 4).
# The CLI is click itself, declared once at import: typer (on click) cost ~25 ms on every
# command, reading all 13 commands' signatures, converting them to click commands and building a
# pydantic TypeAdapter per parameter of the invoked one (28 for `run`).


class _Group(click.Group):
    """A command group whose listing shows each command's whole summary (click cuts it at the
    terminal's width minus the names; write_dl wraps it instead), which shows its help when
    called bare, and whose Ctrl-C ends the command with exit code 130 and no message, as a
    shell expects of an interrupted command."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, command.get_short_help_str(limit=1000))
            for name, command in self.commands.items()
            if not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bare `naftiko` (or `naftiko import`): the help on stdout, exit code 2 (click would
        # write it to stderr, as a usage error).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help())
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        click.echo(f"naftiko {__version__} (spec {SPEC_VERSION})")
        ctx.exit()


@click.group(
    "naftiko",
    cls=_Group,
    no_args_is_help=True,
    # Defaults appear in every command's help, as `[default: info]`.
    context_settings={"show_default": True},
    help="Run and check Naftiko capability specs (1.0.0-alpha2).",
)
@click.option(
    "--version",
    "-V",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show version.",
)
def app() -> None:
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
@click.argument("files", nargs=-1, required=True, help="Spec files to check.")
@click.option("--verbose", "-v", is_flag=True, help="Show warnings.")
@click.option("--strict", is_flag=True, help="Also check the official alpha2 JSON Schema.")
@click.option(
    "--format", "output", default="text", metavar="text|json", help="Output format: text or json."
)
def validate(files: tuple[str, ...], verbose: bool, strict: bool, output: str) -> None:
    """Check spec files: `ok FILE` or each problem as FILE:LINE:COL: path: message."""
    if output not in ("text", "json"):
        raise click.BadParameter("must be text or json", param_hint="--format")
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
        click.echo(json.dumps(doc, indent=2))
    else:
        for file, errors, warnings in results:
            if verbose:
                for warning in warnings:
                    click.echo(f"{warning.location}: warning: {warning.message}")
            if errors:
                for error in errors:
                    click.echo(f"{error}", err=False)
                click.echo(f"invalid {file} ({len(errors)} error{'s' * (len(errors) != 1)})")
            else:
                count = len(warnings)
                click.echo(f"ok {file} ({count} warning{'s' * (count != 1)})")
    raise click.exceptions.Exit(1 if failed else 0)


for _command in (run, health, status, metrics, traces):
    app.add_command(_command)
for _name, _help, _sub in (
    ("import", "Write Naftiko specs from other descriptions.", import_openapi),
    ("export", "Write other descriptions from a spec.", export_openapi),
    ("create", "Write a new spec.", create_capability),
):
    app.add_command(_Group(_name, help=_help, no_args_is_help=True, commands=[_sub]))


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
