"""Fixtures shared by the end-to-end tests: fake upstreams as real loopback servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.faulty import Faulty, limits_gateway
from tests.support.groq import groq_app
from tests.support.process import Running
from tests.support.servers import Recorder, serve_app


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
