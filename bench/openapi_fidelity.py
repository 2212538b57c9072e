"""Tools and input-schema fidelity: `naftiko import openapi --capability` vs FastMCP.from_openapi.

    python bench/openapi_fidelity.py

For each OpenAPI document (the test fixtures and the two Microcks files of the conformance
suite), both tools lists are built without serving: ours from the imported capability's MCP
plan, FastMCP's from `list_tools()` in the bench venv ($FASTMCP_PYTHON). Counted over every
tool's input schema: properties, required ones, and, anywhere in the tree, enums, formats,
numeric/length bounds and defaults, nested properties (below a top-level argument), and `$ref`s
left for the client to resolve. Prints a markdown table; then, for GroqCloud's createBatch,
how many calls with invalid arguments (an endpoint outside the enum, missing required fields,
a completion window failing the pattern) each lets through to the upstream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from naftiko.engine.exposed import mcp_plan
from naftiko.engine.inputs import validate
from naftiko.engine.planner import build_plan
from naftiko.errors import InputError
from naftiko.model import ExposesMcp
from naftiko.spec.bindings import Bindings
from naftiko.spec.loader import load
from naftiko.tools.importer import import_openapi, render
from naftiko.tools.oas_refs import Where, open_source

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "openapi"
MICROCKS = Path("/work/shared/conformance/naftiko-framework-1.0.0-alpha2/microcks")
DOCUMENTS = [
    FIXTURES / "groqcloud-batches.yaml",
    FIXTURES / "petstore-swagger2.json",
    FIXTURES / "library" / "library.yaml",
    MICROCKS / "naftiko-shipyard-maritime-registry-api.yaml",
    MICROCKS / "naftiko-shipyard-legacy-dockyard-api.yaml",
]
FASTMCP_PYTHON = os.environ.get("FASTMCP_PYTHON", "/work/bench-venv/bin/python")
BOUNDS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern")


INVALID = [
    {"input_file_id": "f", "endpoint": "/v1/embeddings", "completion_window": "24h"},
    {"input_file_id": "f"},
    {"input_file_id": "f", "endpoint": "/v1/chat/completions", "completion_window": "forever"},
]


def naftiko_actions(document: Path) -> dict[str, Any]:
    imported = import_openapi(document, capability=True)
    spec = Path(tempfile.mkdtemp()) / "capability.yaml"
    spec.write_text(render(imported.document, "yaml"))
    capability = load(spec)
    flat = {var: "x" for bind in capability.binds for var in bind.keys}
    plan = build_plan(capability, Bindings({}, flat, {}))
    (index, adapter), *_ = [
        (i, e) for i, e in enumerate(capability.body.exposes) if isinstance(e, ExposesMcp)
    ]
    return dict(mcp_plan(plan, index, adapter).tools)


def naftiko_tools(document: Path) -> list[dict[str, Any]]:
    actions = naftiko_actions(document)
    return [{"name": n, "inputSchema": a.input_schema} for n, a in actions.items()]


def naftiko_let_through(document: Path, tool: str) -> int:
    """Engine.invoke validates arguments first: this is that step, without an upstream."""
    action = naftiko_actions(document)[tool]
    passed = 0
    for arguments in INVALID:
        try:
            validate(action.inputs, arguments)
        except InputError:
            continue
        passed += 1
    return passed


def fastmcp_let_through(document: Path, tool: str) -> int:
    cmd = [FASTMCP_PYTHON, "-P", str(HERE / "peer_fastmcp_calls.py"), str(document), tool]
    done = subprocess.run([*cmd, *map(json.dumps, INVALID)], capture_output=True, text=True)
    count: int = json.loads(done.stdout)
    return count


def inlined(document: Path) -> Path:
    """The document as one file, every `$ref` replaced by what it names (recursion cut): what
    a FastMCP user must produce first, since from_openapi reads no other file."""
    source = open_source(document)

    def walk(node: Any, where: Where, stack: tuple[str, ...]) -> Any:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            key = f"{where.doc.file}#{node['$ref']}"
            if key in stack:
                return {"type": "object"}
            target, there = source.deref(node, where)
            return walk(target, there, (*stack, key))
        if isinstance(node, dict):
            return {k: walk(v, where.at(k), stack) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, where.at(i), stack) for i, v in enumerate(node)]
        return node

    out = Path(tempfile.mkdtemp()) / f"{document.stem}.inlined.json"
    out.write_text(json.dumps(walk(source.root.doc.data, source.root, ())))
    return out


def fastmcp_tools(document: Path) -> list[dict[str, Any]] | str:
    cmd = [FASTMCP_PYTHON, "-P", str(HERE / "peer_fastmcp_tools.py"), str(document)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=document.parent)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1][:80]
    tools: list[dict[str, Any]] = json.loads(done.stdout)
    return tools


def _walk(schema: Any, depth: int, counts: dict[str, int]) -> None:
    if isinstance(schema, list):
        for item in schema:
            _walk(item, depth, counts)
        return
    if not isinstance(schema, dict):
        return
    counts["enums"] += "enum" in schema or "const" in schema
    counts["formats"] += "format" in schema
    counts["bounds"] += sum(k in schema for k in BOUNDS) + ("default" in schema)
    counts["refs"] += "$ref" in schema
    props = schema.get("properties")
    if isinstance(props, dict):
        if depth >= 1:
            counts["nested"] += len(props)
        for sub in props.values():
            _walk(sub, depth + 1, counts)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        _walk(schema.get(key), depth, counts)
    for sub in (schema.get("$defs") or {}).values():
        _walk(sub, depth + 1, counts)


def measure(tools: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(
        ("tools", "args", "required", "enums", "formats", "bounds", "nested", "refs"), 0
    )
    for tool in tools:
        schema = tool["inputSchema"]
        counts["tools"] += 1
        counts["args"] += len(schema.get("properties") or {})
        counts["required"] += len(schema.get("required") or [])
        _walk(schema, 0, counts)
    return counts


def main() -> None:
    columns = ("tools", "args", "required", "enums", "formats", "bounds", "nested", "refs")
    print("| document | server | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for document in DOCUMENTS:
        rows = [("naftiko", naftiko_tools(document)), ("FastMCP", fastmcp_tools(document))]
        if isinstance(rows[1][1], str):
            rows.append(("FastMCP, refs inlined first", fastmcp_tools(inlined(document))))
        for name, tools in rows:
            if isinstance(tools, str):
                print(f"| {document.name} | {name} | fails: {tools} |")
                continue
            counts = measure(tools)
            print(
                f"| {document.name} | {name} | "
                + " | ".join(str(counts[c]) for c in columns)
                + " |"
            )
    groq = DOCUMENTS[0]
    print(f"\nInvalid createBatch calls reaching the upstream (of {len(INVALID)}):")
    print(f"naftiko {naftiko_let_through(groq, 'create-batch')}, ", end="")
    print(f"FastMCP {fastmcp_let_through(groq, 'createBatch')}")


if __name__ == "__main__":
    sys.exit(main())
