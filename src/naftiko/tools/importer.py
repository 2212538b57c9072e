"""`naftiko import openapi`: an OpenAPI file → a shared consumes document or a capability."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from naftiko.errors import Problem
from naftiko.tools.oas_read import read_api
from naftiko.tools.oas_refs import open_source
from naftiko.tools.oas_write import capability_document, consumes_document, schema_only


@dataclass(frozen=True)
class Imported:
    document: dict[str, Any]
    warnings: list[Problem]
    default_output: str  # file name in the working directory, per format


def import_openapi(
    file: Path,
    *,
    namespace: str | None = None,
    capability: bool = False,
    output_format: str = "yaml",
    rest_port: int = 8080,
    mcp_port: int = 9090,
    schema_strict: bool = False,
) -> Imported:
    """Read `file` (and the files its `$ref`s name); unsupported constructs become warnings."""
    source = open_source(file)
    api = read_api(source, namespace)
    ext = "json" if output_format == "json" else "yml"
    if capability:
        doc = capability_document(api, rest_port, mcp_port)
        name = f"{api.namespace}.naftiko.{'json' if ext == 'json' else 'yaml'}"
    else:
        doc = consumes_document(api)
        name = f"{api.namespace}-consumes.{ext}"
    if schema_strict:
        doc = schema_only(doc)
    return Imported(doc, source.warnings, name)


def _no_aliases(dumper: Any, data: Any) -> bool:
    return True


# No `&id001` anchors: a shared enum or schema is written out at each use. libyaml's emitter
# when PyYAML has it (the same text, ~4x faster: 20,000 operations took 28 s without it).
_Dumper: Any = type(
    "_Dumper",
    (yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper,),
    {"ignore_aliases": _no_aliases},
)


def render(document: dict[str, Any], output_format: str) -> str:
    """YAML (marked `# @naftiko`, as the reference writes it) or JSON text."""
    if output_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "# @naftiko\n---\n" + body


def render_plain(document: dict[str, Any], output_format: str) -> str:
    """A document that is not a Naftiko spec (an OpenAPI export): no `# @naftiko` mark."""
    if output_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
