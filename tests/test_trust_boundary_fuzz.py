"""Every exposed operation of the seed and tutorial steps 10-11, called with its declared
inputs plus extra parameters named after every bound variable, every path parameter and
every header the upstream receives: the upstream must receive only what the spec and the
declared inputs say. Every extra value carries the marker `evil` and an address of the
attacker's upstream; neither may appear in any upstream request.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from naftiko.adapters.mcp import McpAdapter
from naftiko.adapters.rest import RestAdapter
from naftiko.engine.inputs import Input
from naftiko.engine.plan import Action
from naftiko.expressions import norm
from tests.support.echo import echo_app
from tests.support.groq import TOKEN as GROQ_TOKEN
from tests.support.inprocess import Gateway, serving
from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    point_at_mock,
    serve_openapi_mock_in_thread,
)
from tests.support.servers import Recorder, serve_app
from tests.support.shared import CONFORMANCE_DIR
from tests.support.specs import seed_for
from tests.support.yamlio import dump_yaml, load_yaml

MCP_TOKEN = load_yaml((CONFORMANCE_DIR / "tutorial" / "shared" / "secrets.yaml").read_text())[
    "mcp-server-token"
]


@dataclass
class Seen:
    """One upstream request, flattened to what a marker could hide in."""

    target: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.target + json.dumps(self.headers) + self.body.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def attacker() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(echo_app(recorder), host="127.0.0.2") as url:
        yield url, recorder


def _sample(spec: Input) -> Any:
    return {
        "array": ["dv"],
        "object": {"k": "dv"},
        "integer": 1,
        "number": 1,
        "boolean": True,
    }.get(spec.type, f"dv-{spec.name}")


def _variants(names: set[str]) -> set[str]:
    return names | {n.replace("_", "-") for n in names} | {n.replace("-", "_") for n in names}


def _extras(gateway: Gateway, attacker: str) -> set[str]:
    """Bound variables (flat and namespaced), consumed path parameters and the headers the
    upstream is sent (declared ones and credentials)."""
    names: set[str] = {"Authorization", "X-API-Key", "API_BASE", "baseUri"}
    for engine in gateway.runtime.engines:
        bindings = engine.plan.bindings
        names |= set(bindings.flat)
        names |= {f"{ns}.{var}" for ns, keys in bindings.by_namespace.items() for var in keys}
        for op in engine.plan.operations.values():
            names |= {p.name for p in op.params if p.location in ("header", "path")}
            names |= {v.name for v in op.url.variables}
        for client in engine.plan.clients.values():
            key = getattr(client.authentication, "key", None)
            names |= {key} if key else set()
    return _variants(names)


def _evil(attacker: str, name: str) -> str:
    return f"{attacker}/evil-{name}"


async def _fuzz_rest(
    gateway: Gateway, adapter: RestAdapter, namespace: str, extras: set[str], attacker: str
) -> list[tuple[str, int]]:
    calls = []
    async with gateway.client(namespace) as client:
        for route in adapter.plan.routes:
            if route.forward_namespace is not None:
                continue
            inputs = route.action.caller_inputs
            declared = {norm(i.name) for i in inputs if i.location != "path"}
            path = route.path
            for _, name in route.variables:
                path = path.replace("{{" + name + "}}", f"pv-{name}").replace(
                    "{" + name + "}", f"pv-{name}"
                )
            query: dict[str, Any] = {}
            body: dict[str, Any] = {}
            headers: dict[str, str] = {}
            for spec in inputs:
                if spec.location == "query":
                    query[spec.name] = _sample(spec)
                elif spec.location == "header":
                    headers[spec.name] = str(_sample(spec))
                elif spec.location in ("body", "argument") and spec.location != "path":
                    body[spec.name] = _sample(spec)
            # An input that is the whole payload takes any field as data: extras go elsewhere.
            whole = any(i.name == "body" and i.location != "body" for i in inputs)
            if whole:
                body = {"k": "dv"}
            for name in extras:
                if norm(name) in declared:
                    continue
                query[name] = _evil(attacker, name)
                if not whole:
                    body[name] = _evil(attacker, name)
                if name[0].isalpha() and "." not in name:
                    headers[name] = _evil(attacker, name)
            response = await client.request(
                route.method, path, params=query, json=body, headers=headers
            )
            calls.append((f"{route.method} {route.path}", response.status_code))
    return calls


async def _fuzz_mcp(
    gateway: Gateway,
    adapter: McpAdapter,
    namespace: str,
    extras: set[str],
    attacker: str,
    token: str | None,
) -> list[tuple[str, int]]:
    calls = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with gateway.client(namespace) as client:
        for name, action in adapter.plan.tools.items():
            arguments = _mcp_arguments(action, extras, attacker)
            message = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
            response = await client.post("/mcp", json=message, headers=headers)
            calls.append((f"tool {name}", response.status_code))
    return calls


def _mcp_arguments(action: Action, extras: set[str], attacker: str) -> dict[str, Any]:
    inputs = action.caller_inputs
    declared = {norm(i.name) for i in inputs}
    arguments = {spec.name: _sample(spec) for spec in inputs}
    arguments |= {n: _evil(attacker, n) for n in extras if norm(n) not in declared}
    return arguments


async def _fuzz(gateway: Gateway, attacker: str, token: str | None) -> list[tuple[str, int]]:
    extras = _extras(gateway, attacker)
    calls: list[tuple[str, int]] = []
    for served in gateway.runtime.served:
        if isinstance(served.adapter, RestAdapter):
            calls += await _fuzz_rest(gateway, served.adapter, served.namespace, extras, attacker)
        elif isinstance(served.adapter, McpAdapter):
            calls += await _fuzz_mcp(
                gateway, served.adapter, served.namespace, extras, attacker, token
            )
    return calls


def _assert_clean(seen: list[Seen], attacker: tuple[str, Recorder], calls: Any) -> None:
    assert attacker[1].requests == [], calls
    assert seen, calls
    for request in seen:
        assert "evil" not in request.text(), (request, calls)
        assert attacker[0].split("//")[1] not in request.text(), request


async def test_the_seed_takes_nothing_but_declared_inputs(
    tmp_path: Path, groq_upstream: tuple[str, Recorder], attacker: tuple[str, Recorder]
) -> None:
    groq_upstream[1].requests.clear()
    attacker[1].requests.clear()
    spec = seed_for(groq_upstream[0], tmp_path)
    async with serving(spec, env={"GROQ_API_KEY": GROQ_TOKEN}) as gateway:
        calls = await _fuzz(gateway, attacker[0], None)
    assert len(calls) == 8
    seen = [Seen(r.raw_path + "?" + r.query, r.headers, r.body) for r in groq_upstream[1].requests]
    assert len(seen) == 8, calls
    for request in seen:
        assert request.headers["Authorization"] == f"Bearer {GROQ_TOKEN}"
        path = request.target.split("?")[0]
        assert path in (
            "/openai/v1/batches",
            "/openai/v1/batches/pv-batch-id",  # REST: the path's value
            "/openai/v1/batches/pv-batch-id/cancel",
            "/openai/v1/batches/dv-batch_id",  # MCP: the declared argument's value
            "/openai/v1/batches/dv-batch_id/cancel",
        )
    _assert_clean(seen, attacker, calls)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder, dirs_exist_ok=True)
    with serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI) as mock:
        for path in folder.rglob("*.y*ml"):
            data = load_yaml(path.read_text())
            point_at_mock(data, mock)
            path.write_text(dump_yaml(data, sort_keys=False))
        yield folder, mock


@pytest.mark.parametrize(
    "step", ["step-10-shipyard-rest-adapter.yml", "step-11-shipyard-fleet-manifest.yml"]
)
async def test_tutorial_steps_take_nothing_but_declared_inputs(
    tutorial: tuple[Path, Any], attacker: tuple[str, Recorder], step: str
) -> None:
    folder, mock = tutorial
    mock.requests.clear()
    attacker[1].requests.clear()
    secrets = load_yaml((folder / "shared" / "secrets.yaml").read_text())
    async with serving(folder / step) as gateway:
        calls = await _fuzz(gateway, attacker[0], MCP_TOKEN)
    assert all(status < 500 for _, status in calls), calls
    seen = [Seen(r.path + "?" + r.query, dict(r.headers), r.body) for r in mock.requests]
    for request in seen:
        if "Registry-Version" in request.headers:
            assert request.headers["Registry-Version"] == secrets["registry-api-version"]
            assert request.headers["Authorization"] == f"Bearer {secrets['registry-bearer-token']}"
    _assert_clean(seen, attacker, calls)


async def test_a_query_parameter_cannot_rewrite_a_bound_header_on_step_10(
    tutorial: tuple[Path, Any],
) -> None:
    folder, mock = tutorial
    mock.requests.clear()
    secrets = load_yaml((folder / "shared" / "secrets.yaml").read_text())
    spec = folder / "step-10-shipyard-rest-adapter.yml"
    async with serving(spec) as gateway, gateway.client("shipyard-api") as client:
        response = await client.get("/ships", params={"REGISTRY_VERSION": "evil"})
    assert response.status_code == 200, response.text
    (request,) = mock.requests
    assert request.headers["Registry-Version"] == secrets["registry-api-version"]
