"""DESIGN.md's layering, enforced: imports only point downward."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "naftiko"
RANK = {
    "version": 0,
    "errors": 0,
    "safejson": 0,
    "defaults": 0,
    "vocabulary": 0,
    "expressions": 1,
    "model": 2,
    "spec": 3,
    "engine": 4,
    "adapters": 5,
    "runtime": 6,
    "settings": 6,
    "logs": 6,
    "health": 6,
    "listeners": 6,
    "serving": 6,
    "serving_request": 6,
    "logbuffer": 6,
    "reload": 6,
    "readiness": 6,
    "supervisor": 6,
    "tools": 6,  # beside the runtime: authoring (import, export, create), never serving
    "cli": 7,
    "cli_run": 7,
    "cli_control": 7,
    "cli_authoring": 7,
    "__main__": 7,  # the command: `--version`, else the CLI
}
MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


@cache
def _tree(path: Path) -> list[ast.AST]:
    """Every node of a module, parsed once for all the tests that read it."""
    return list(ast.walk(ast.parse(path.read_text())))


@cache
def _imports(path: Path) -> list[str]:
    names = []
    for node in _tree(path):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _own(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_point_down_the_layers(path: Path) -> None:
    own = RANK[_own(path)]
    upward = [
        name for name in _imports(path) if name.startswith("naftiko.") and RANK[_layer(name)] > own
    ]
    assert upward == []
    assert "naftiko" not in _imports(path), "import from a leaf module, not the package root"


@pytest.mark.parametrize("path", sorted((SRC / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_knows_no_protocol(path: Path) -> None:
    protocols = [
        n for n in _imports(path) if n.split(".")[0] in ("starlette", "mcp", "mcp_types", "uvicorn")
    ]
    assert protocols == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_the_mcp_sdk_which_only_the_tests_use(path: Path) -> None:
    # MCP is served by adapters/mcp_server.py; the SDK is a dev dependency (real clients).
    assert [n for n in _imports(path) if n.split(".")[0] in ("mcp", "mcp_types")] == []


@pytest.mark.parametrize("path", sorted((SRC / "adapters").glob("*.py")), ids=lambda p: p.name)
def test_adapters_do_not_import_each_other(path: Path) -> None:
    shared = {
        "naftiko.adapters.auth_gate",
        "naftiko.adapters.common",
        "naftiko.adapters.edge",
        "naftiko.adapters.limits",
        "naftiko.adapters.origins",
        "naftiko.adapters.files",
        "naftiko.adapters.openapi",
    }
    family = path.stem.split("_")[0]  # mcp.py may import its own parts, mcp_*.py
    siblings = [
        n
        for n in _imports(path)
        if n.startswith("naftiko.adapters.")
        and n not in shared
        and n.rsplit(".", 1)[1].split("_")[0] != family
    ]
    assert siblings == []


@pytest.mark.parametrize("path", sorted((SRC / "tools").glob("*.py")), ids=lambda p: p.name)
def test_the_authoring_tools_never_import_the_runtime(path: Path) -> None:
    serving = {"naftiko.runtime", "naftiko.listeners", "naftiko.health", "naftiko.logs"}
    assert [n for n in _imports(path) if n in serving] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_only_expressions_parses_template_braces(path: Path) -> None:
    """`{{x}}` / `{x}` are read by expressions.py alone: a regex with a brace elsewhere is a
    second parser that will one day disagree with the first."""
    if path.name == "expressions.py":
        return
    braces = [
        node.lineno
        for node in _tree(path)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and "\\{" in node.args[0].value
    ]
    assert braces == []
