"""The reference engine's own acceptance suite (`tests.yml`, 33 tests) against the runtime.

Each tutorial step is served in-process (tests/support/inprocess.py: the runtime `naftiko run`
builds, adapters' ASGI apps without their listening sockets) from a copy of the tutorial whose
upstreams point at the Microcks-style mock (tests/support/microcks.py, a real loopback
server). Calls are made as the reference suite makes them: a bare JSON-RPC `tools/call`
POSTed to the MCP adapter's root with only a Content-Type and the bearer token, or the REST
request as given.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jq
import pytest

from tests.support.inprocess import serving
from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    MockServer,
    point_at_mock,
    serve_openapi_mock_in_thread,
)
from tests.support.shared import CONFORMANCE_DIR
from tests.support.yamlio import dump_yaml, load_yaml

SUITE = load_yaml((CONFORMANCE_DIR / "tests.yml").read_text())["tests"]
# The suite's 256 validations are 58 distinct jq expressions: each compiled once (a compile
# reads jq's whole builtin library, ~2 ms), a program runs on any number of inputs.
_jq = functools.cache(jq.compile)
SECRETS = load_yaml((CONFORMANCE_DIR / "tutorial" / "shared" / "secrets.yaml").read_text())
MCP_TOKEN = SECRETS["mcp-server-token"]


class Tutorial:
    """The tutorial copied and rewritten once; each step file served in-process per call."""

    def __init__(self, folder: Path, mock: MockServer) -> None:
        self.folder = folder
        self.mock = mock
        self.by_port: dict[str, dict[int, str]] = {}

    def adapter(self, file: str, port: int) -> tuple[Path, str]:
        """The step file and the namespace of its adapter on `port`."""
        path = self.folder / file
        if file not in self.by_port:
            data = load_yaml(path.read_text())
            by_port: dict[int, str] = {}
            for adapter in data["capability"]["exposes"]:
                by_port[adapter["port"]] = adapter.get("namespace", adapter["type"])
                adapter["port"] = 0
                adapter["address"] = "127.0.0.1"
            path.write_text(dump_yaml(data, sort_keys=False))
            self.by_port[file] = by_port
        return path, self.by_port[file][port]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tutorial]:
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder, dirs_exist_ok=True)
    with serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI) as mock:
        for path in folder.rglob("*.y*ml"):
            data = load_yaml(path.read_text())
            point_at_mock(data, mock)
            path.write_text(dump_yaml(data, sort_keys=False))
        yield Tutorial(folder, mock)


async def _call(tutorial: Tutorial, test: dict[str, Any]) -> Any:
    spec, namespace = tutorial.adapter(test["file"], test["port"])
    async with serving(spec) as gateway, gateway.client(namespace) as client:
        return await _send(client, test)


async def _send(client: httpx.AsyncClient, test: dict[str, Any]) -> Any:
    if test.get("type") == "rest":
        response = await client.request(test["method"], test["path"], json=test.get("body"))
        assert response.status_code < 400, response.text
        return response.json()
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": test["tool"], "arguments": test.get("args") or {}},
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {MCP_TOKEN}"}
    response = await client.post("/", content=json.dumps(message), headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


@pytest.mark.parametrize("test", SUITE, ids=[t["name"] for t in SUITE])
async def test_reference_acceptance(tutorial: Tutorial, test: dict[str, Any]) -> None:
    output = await _call(tutorial, test)
    failed = [
        v["jq"] for v in test["validations"] if _jq(v["jq"]).input_value(output).first() is not True
    ]
    assert failed == [], f"{test['name']}: {json.dumps(output)[:800]}"


def test_the_suite_has_33_tests() -> None:
    assert len(SUITE) == 33


@pytest.mark.parametrize("name", ["step5-list-ships", "step11-rest-voyage-manifest"])
async def test_bound_credentials_reach_the_mock_upstreams_rendered(
    tutorial: Tutorial, name: str
) -> None:
    """Where the reference engine sends `{{REGISTRY_TOKEN}}` unrendered (SEMANTICS §1.4, §3.3)
    or, in step 11, the bare name `REGISTRY_TOKEN`, the tutorial intends the secrets file's
    values: the mock upstreams must receive those."""
    test = next(t for t in SUITE if t["name"] == name)
    tutorial.mock.requests.clear()
    await _call(tutorial, test)
    registry = tutorial.mock.requests_to(REGISTRY_OPENAPI)
    assert registry
    assert {r.headers.get("Authorization") for r in registry} == {
        f"Bearer {SECRETS['registry-bearer-token']}"
    }
    assert {r.headers.get("Registry-Version") for r in registry} == {
        SECRETS["registry-api-version"]
    }
    legacy = tutorial.mock.requests_to(LEGACY_OPENAPI)
    assert {r.headers.get("X-Dock-Key") for r in legacy} <= {SECRETS["dockyard-api-key"]}
