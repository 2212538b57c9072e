"""`naftiko import/export/create`: the authoring commands (`tools/`), each writing one file or
stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

# The groups `import`, `export` and `create` that hold these commands are made in `cli.py`.

_format = click.option(
    "--format", "-f", "output_format", default="yaml", metavar="yaml|json", help="yaml or json."
)


def _output(default: str) -> Callable[[Any], Any]:
    return click.option(
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
        raise click.BadParameter(
            f"cannot write {output}: {exc.strerror}", param_hint="-o"
        ) from None
    click.echo(f"wrote {output}", err=True)


def _check_format(output_format: str) -> None:
    if output_format not in ("yaml", "json"):
        raise click.BadParameter("must be yaml or json", param_hint="--format")


@click.command("openapi")
@click.argument(
    "source",
    type=click.Path(path_type=Path),
    help="OpenAPI 3.x or Swagger 2.0 file (YAML or JSON).",
)
@_output("./<namespace>-consumes.yml, or ./<namespace>.naftiko.yaml with --capability")
@click.option("--namespace", "-n", help="Consumes namespace (default: from info.title).")
@_format
@click.option(
    "--capability",
    is_flag=True,
    help="Write a runnable capability: consumes + REST + MCP adapters.",
)
@click.option("--rest-port", default=8080, help="REST adapter port.")
@click.option("--mcp-port", default=9090, help="MCP adapter port.")
@click.option(
    "--strict",
    is_flag=True,
    help="Only what the official JSON Schema allows (validate --strict passes; "
    "fewer checks before the upstream call).",
)
def import_openapi(
    source: Path,
    output: str | None,
    namespace: str | None,
    output_format: str,
    capability: bool,
    rest_port: int,
    mcp_port: int,
    strict: bool,
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
        click.echo(f"{warning.location}: warning: {warning.message}", err=True)
    _write(render(imported.document, output_format), output or imported.default_output)


@click.command("openapi")
@click.argument("spec", type=click.Path(path_type=Path), help="The capability spec.")
@_output("./openapi.<format>")
@_format
@click.option("--adapter", "-a", help="REST adapter namespace (default: the first).")
@click.option("--spec-version", default="3.1", metavar="3.0|3.1", help="OpenAPI 3.1 or 3.0.")
def export_openapi(
    spec: Path, output: str | None, output_format: str, adapter: str | None, spec_version: str
) -> None:
    """Write the OpenAPI document the REST adapter serves at /openapi.json."""
    _check_format(output_format)
    if spec_version not in ("3.0", "3.1"):
        raise click.BadParameter("must be 3.0 or 3.1", param_hint="--spec-version")
    from naftiko.tools.export import export_openapi as build
    from naftiko.tools.importer import render_plain

    document = build(spec, adapter=adapter, spec_version=spec_version)
    _write(render_plain(document, output_format), output or f"openapi.{output_format}")


@click.command("capability")
@click.option("--name", help="Capability name.")
@click.option("--base-uri", "--target", "base_uri", help="Upstream base URI.")
@click.option("--port", type=int, help="REST adapter port.")
@_output("./<name>.naftiko.yaml")
@_format
def create_capability(
    name: str | None,
    base_uri: str | None,
    port: int | None,
    output: str | None,
    output_format: str,
) -> None:
    """A new capability forwarding a REST port to one upstream; prompts for what flags omit."""
    _check_format(output_format)
    from naftiko.tools.create import NewCapability, capability_document, check, default_file
    from naftiko.tools.importer import render

    name = name if name is not None else click.prompt("Capability name")
    base_uri = base_uri if base_uri is not None else click.prompt("Target URI")
    port = port if port is not None else click.prompt("Port", default=8080, type=int)
    new = NewCapability(name=name.strip(), base_uri=base_uri.strip(), port=port)
    problems = check(new)
    if problems:
        raise click.BadParameter("; ".join(problems))
    _write(render(capability_document(new), output_format), output or default_file(new))
