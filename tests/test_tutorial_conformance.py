"""The reference engine's own acceptance suite (`tests.yml`, 33 tests) against `naftiko run`.

Each tutorial step runs as a real process on a copy of the tutorial whose upstreams point at
the Microcks-style mock (tests/support/microcks.py) and whose ports are free ones. Calls are
made as the reference suite makes them: a bare JSON-RPC `tools/call` POSTed to the MCP
adapter's root with only a Content-Type and the bearer token, or the REST request as given.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jq
import pytest
import yaml

from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    MockServer,
    point_at_mock,
    serve_openapi_mock_in_thread,
)
from tests.support.process import Running, naftiko_run
from tests.support.shared import CONFORMANCE_DIR

SUITE = yaml.safe_load((CONFORMANCE_DIR / "tests.yml").read_text())["tests"]
SECRETS = yaml.safe_load((CONFORMANCE_DIR / "tutorial" / "shared" / "secrets.yaml").read_text())
MCP_TOKEN = SECRETS["mcp-server-token"]


class Tutorial:
    """The tutorial copied and rewritten once; one `naftiko run` per step file, started lazily."""

    def __init__(self, folder: Path, mock: MockServer, stack: ExitStack) -> None:
        self.folder = folder
        self.mock = mock
        self.stack = stack
        self.running: dict[str, tuple[Running, dict[int, str]]] = {}

    def adapter_url(self, file: str, port: int) -> str:
        if file not in self.running:
            path = self.folder / file
            data = yaml.safe_load(path.read_text())
            by_port: dict[int, str] = {}
            for adapter in data["capability"]["exposes"]:
                by_port[adapter["port"]] = adapter.get("namespace", adapter["type"])
                adapter["port"] = 0
                adapter["address"] = "127.0.0.1"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            count = len(data["capability"]["exposes"])
            running = self.stack.enter_context(naftiko_run(path, adapters=count))
            self.running[file] = (running, by_port)
        running, by_port = self.running[file]
        return running.url(by_port[port])


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tutorial]:
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder, dirs_exist_ok=True)
    with ExitStack() as stack:
        mock = stack.enter_context(serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI))
        for path in folder.rglob("*.y*ml"):
            data = yaml.safe_load(path.read_text())
            point_at_mock(data, mock)
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        yield Tutorial(folder, mock, stack)


def _call(tutorial: Tutorial, test: dict[str, Any]) -> Any:
    url = tutorial.adapter_url(test["file"], test["port"])
    if test.get("type") == "rest":
        response = httpx.request(
            test["method"], url + test["path"], json=test.get("body"), timeout=30
        )
        assert response.status_code < 400, response.text
        return response.json()
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": test["tool"], "arguments": test.get("args") or {}},
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {MCP_TOKEN}"}
    response = httpx.post(url, content=json.dumps(message), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


@pytest.mark.parametrize("test", SUITE, ids=[t["name"] for t in SUITE])
def test_reference_acceptance(tutorial: Tutorial, test: dict[str, Any]) -> None:
    output = _call(tutorial, test)
    failed = [
        v["jq"]
        for v in test["validations"]
        if jq.compile(v["jq"]).input_value(output).first() is not True
    ]
    assert failed == [], f"{test['name']}: {json.dumps(output)[:800]}"


def test_the_suite_has_33_tests() -> None:
    assert len(SUITE) == 33


@pytest.mark.parametrize("name", ["step5-list-ships", "step11-rest-voyage-manifest"])
def test_bound_credentials_reach_the_mock_upstreams_rendered(tutorial: Tutorial, name: str) -> None:
    """Where the reference engine sends `{{REGISTRY_TOKEN}}` unrendered (SEMANTICS §1.4, §3.3)
    or, in step 11, the bare name `REGISTRY_TOKEN`, the tutorial intends the secrets file's
    values: the mock upstreams must receive those."""
    test = next(t for t in SUITE if t["name"] == name)
    tutorial.adapter_url(test["file"], test["port"])  # started before the record is cleared
    tutorial.mock.requests.clear()
    _call(tutorial, test)
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
