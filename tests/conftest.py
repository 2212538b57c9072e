"""Fixtures shared by the end-to-end tests: fake upstreams as real loopback servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.faulty import Faulty, limits_gateway
from tests.support.groq import groq_app
from tests.support.process import Running
from tests.support.servers import Recorder, serve_app

# The modules that take longest run first: with `-n 3 --dist loadfile` each module goes whole to
# one worker, and a long one handed out last would keep the others waiting for it at the end.
LONGEST_FIRST = (
    "test_rest_openapi_conformance.py",
    "test_corpus_run.py",
    "test_two_replicas.py",
    "test_run_cli.py",
    "test_mcp_conformance_suite.py",
    "test_limits_clients.py",
    "test_reload.py",
    "test_mcp_seed.py",
    "test_control_cli.py",
    "test_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def groq_upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(groq_app(recorder)) as url:
        yield url, recorder


@pytest.fixture
def recorder(groq_upstream: tuple[str, Recorder]) -> Recorder:
    """What the fake Groq upstream received during this test only."""
    recorder = groq_upstream[1]
    recorder.requests.clear()
    return recorder


@pytest.fixture(scope="session")
def limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Faulty]]:
    """One `naftiko run` with small limits over the faulty upstream, for the limits tests."""
    with limits_gateway(tmp_path_factory.mktemp("limits")) as running:
        yield running
