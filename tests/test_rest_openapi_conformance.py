"""schemathesis, every check in every phase (examples, coverage, fuzzing, stateful), against
the REST adapters' own `/openapi.json`: the seed over the fake Groq upstream, and tutorial
steps 10 and 11 over the Microcks-style mock. A failure must be one the upstream causes (each
listed below with the reason); anything else is the gateway's, and fails the test.

Bounded for CI: a few examples per operation, a fixed seed, no example database. The three
runs share one schemathesis process (`tests/support/schemathesis_runs.py`): 4.7 CPU-s for the
three, against 7.7 as three `st` processes."""

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


def _schemathesis(runs: dict[str, str], folder: Path, hypothesis: Path) -> dict[str, Any]:
    """schemathesis against each named `/openapi.json`, in one process; each run's report."""
    reports = {name: folder / f"{name}.json" for name in runs}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.schemathesis_runs",
            json.dumps(
                [
                    [
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
                        str(reports[name]),
                    ]
                    for name, url in runs.items()
                ]
            ),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # schemathesis is not ours to measure: coverage's subprocess patch would start in it
        # too and cost it most of its time.
        env={
            **{k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"},
            "PYTHONPATH": str(REPO),
            # hypothesis caches its Unicode and codec tables (a loop over every code point,
            # a third of a run's CPU) in its storage folder, `.hypothesis` in the working
            # directory by default: one folder for every run computes them once.
            "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis),
        },
        cwd=folder,  # its crash cache (.schemathesis/) stays out of the repository
    )
    outputs = done.stdout.split("== run ")[1:]
    results: dict[str, Any] = {}
    for number, (name, report) in enumerate(reports.items()):
        assert report.exists(), done.stdout + done.stderr
        results[name] = json.loads(report.read_text())
        results[name]["output"] = outputs[number] if number < len(outputs) else done.stdout
    return results


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


SEED = "seed"
STEPS = ("step-10-shipyard-rest-adapter.yml", "step-11-shipyard-fleet-manifest.yml")


@pytest.fixture(scope="module")
def results(
    groq_upstream: tuple[str, Recorder],
    tmp_path_factory: pytest.TempPathFactory,
    hypothesis_storage: Path,
) -> Iterator[dict[str, Any]]:
    """The three gateways (the seed over the fake Groq upstream, tutorial steps 10 and 11
    over the Microcks-style mock), each tested by schemathesis, all in one of its processes."""
    spec = seed_for(groq_upstream[0], tmp_path_factory.mktemp("seed"))
    folder = tmp_path_factory.mktemp("tutorial")
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder, dirs_exist_ok=True)
    with ExitStack() as stack:
        seed = stack.enter_context(naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}))
        urls = {SEED: seed.url("groq-batch-rest")}
        mock = stack.enter_context(serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI))
        for path in folder.rglob("*.y*ml"):
            data = load_yaml(path.read_text())
            point_at_mock(data, mock)
            path.write_text(dump_yaml(data, sort_keys=False))
        for step in STEPS:
            path = folder / step
            data = load_yaml(path.read_text())
            for adapter in data["capability"]["exposes"]:
                adapter["port"] = 0
                adapter["address"] = "127.0.0.1"
            path.write_text(dump_yaml(data, sort_keys=False))
            running = stack.enter_context(naftiko_thread(path))
            urls[step] = running.url("shipyard-api")
        yield _schemathesis(urls, tmp_path_factory.mktemp("schemathesis"), hypothesis_storage)


def test_schemathesis_finds_nothing_the_gateway_causes_on_the_seed(
    results: dict[str, Any],
) -> None:
    result = results[SEED]
    assert result["operations"]["tested"] == 4
    assert _gateway_caused(result) == [], result["output"]


@pytest.mark.parametrize("step", STEPS)
def test_schemathesis_finds_nothing_the_gateway_causes_on_the_tutorial(
    results: dict[str, Any], step: str
) -> None:
    result = results[step]
    assert result["operations"]["tested"] >= 5
    assert _gateway_caused(result) == [], result["output"]
