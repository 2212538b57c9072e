"""schemathesis, every check in every phase (examples, coverage, fuzzing, stateful), against
the REST adapters' own `/openapi.json`: the seed over the fake Groq upstream, and tutorial
steps 10 and 11 over the Microcks-style mock. A failure must be one the upstream causes (each
listed below with the reason); anything else is the gateway's, and fails the test.

Bounded for CI: a few examples per operation, a fixed seed, no example database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.groq import TOKEN
from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    point_at_mock,
    serve_openapi_mock_in_thread,
)
from tests.support.servers import Recorder
from tests.support.shared import CONFORMANCE_DIR
from tests.support.specs import REPO, seed_for
from tests.support.threaded import naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml

ST = Path(sys.executable).with_name("st")
EXAMPLES = 8

# (check code, operation) → why the upstream, not the gateway, answers as it does.
UPSTREAM_CAUSED = {
    ("ST202", "POST /v1/openai/v1/batches"): (
        "Groq (and its fake) require input_file_id; the seed declares the body only as an object"
    ),
    ("ST202", "GET /ships/{imo}"): (
        "Microcks answers 400 for an IMO it has no example for ('The response ... does not exist!')"
    ),
    ("ST202", "GET /ships/{imo}/crew"): "the same Microcks 400, from the orchestration's get-ship",
    ("ST202", "GET /voyages/{voyageId}/manifest"): "the same, for a voyage id Microcks lacks",
}


def _schemathesis(url: str, report: Path, hypothesis: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(ST),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # schemathesis is not ours to measure: coverage's subprocess patch would start in it
        # too and cost it most of its time.
        env={
            **{k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"},
            # hypothesis caches its Unicode and codec tables (a loop over every code point,
            # a third of a run's CPU) in its storage folder, `.hypothesis` in the working
            # directory by default: one folder for every run computes them once.
            "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis),
        },
        cwd=report.parent,  # its crash cache (.schemathesis/) stays out of the repository
    )
    assert report.exists(), done.stdout + done.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    result["output"] = done.stdout
    return result


def _gateway_caused(result: dict[str, Any]) -> list[str]:
    return [
        f"{failure['code']} {failure['title']}: {operation}"
        for failure in result["failures"]
        for operation in failure["operations"]
        if (failure["code"], operation) not in UPSTREAM_CAUSED
    ]


@pytest.fixture(scope="module")
def hypothesis_storage() -> Path:
    """hypothesis's storage folder, kept between runs in the gitignored .cache/ (as the MCP
    conformance suite's install is): with `--generation-database none` it holds only tables
    derived from this Python's Unicode data and codecs, and the constants hypothesis reads from
    source files (keyed by their hash), which a fresh folder recomputes at ~1.5 CPU-s a run."""
    return REPO / ".cache" / "hypothesis"


@pytest.fixture(scope="module")
def seed_url(
    groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    spec = seed_for(groq_upstream[0], tmp_path_factory.mktemp("seed"))
    with naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}) as running:
        yield running.url("groq-batch-rest")


@pytest.fixture(scope="module")
def tutorial_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder, dirs_exist_ok=True)
    with ExitStack() as stack:
        mock = stack.enter_context(serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI))
        for path in folder.rglob("*.y*ml"):
            data = load_yaml(path.read_text())
            point_at_mock(data, mock)
            path.write_text(dump_yaml(data, sort_keys=False))
        urls: dict[str, str] = {}
        for step in ("step-10-shipyard-rest-adapter.yml", "step-11-shipyard-fleet-manifest.yml"):
            path = folder / step
            data = load_yaml(path.read_text())
            for adapter in data["capability"]["exposes"]:
                adapter["port"] = 0
                adapter["address"] = "127.0.0.1"
            path.write_text(dump_yaml(data, sort_keys=False))
            running = stack.enter_context(naftiko_thread(path))
            urls[step] = running.url("shipyard-api")
        yield urls


def test_schemathesis_finds_nothing_the_gateway_causes_on_the_seed(
    seed_url: str, tmp_path: Path, hypothesis_storage: Path
) -> None:
    result = _schemathesis(seed_url, tmp_path / "report.json", hypothesis_storage)
    assert result["operations"]["tested"] == 4
    assert _gateway_caused(result) == [], result["output"]


@pytest.mark.parametrize(
    "step", ["step-10-shipyard-rest-adapter.yml", "step-11-shipyard-fleet-manifest.yml"]
)
def test_schemathesis_finds_nothing_the_gateway_causes_on_the_tutorial(
    tutorial_urls: dict[str, str], step: str, tmp_path: Path, hypothesis_storage: Path
) -> None:
    result = _schemathesis(tutorial_urls[step], tmp_path / "report.json", hypothesis_storage)
    assert result["operations"]["tested"] >= 5
    assert _gateway_caused(result) == [], result["output"]
