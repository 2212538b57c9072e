"""`naftiko import/export/create`: the authoring commands (`tools/`), each writing one file or
stdout."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

import_app = typer.Typer(no_args_is_help=True, help="Write Naftiko specs from other descriptions.")
export_app = typer.Typer(no_args_is_help=True, help="Write other descriptions from a spec.")
create_app = typer.Typer(no_args_is_help=True, help="Write a new spec.")

_FORMAT = typer.Option("--format", "-f", help="yaml or json.", metavar="yaml|json")


def _output(default: str) -> Any:
    return typer.Option(
        "--output", "-o", help=f"File to write ('-' for stdout); default {default}."
    )


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
        _output("./<namespace>-consumes.yml, or ./<namespace>.naftiko.yaml with --capability"),
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
    output: Annotated[str | None, _output("./openapi.<format>")] = None,
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
    output: Annotated[str | None, _output("./<name>.naftiko.yaml")] = None,
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
