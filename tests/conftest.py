"""Fixtures shared by the end-to-end tests: fake upstreams as real loopback servers."""

from __future__ import annotations

import functools
import gc
import os
import ssl
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpcore2
import pytest

if TYPE_CHECKING:
    # Imported by the fixtures that use them: the xdist controller, which runs no test,
    # then loads no aiohttp (~0.2 CPU-s, while the workers start beside it).
    from tests.support.faulty import Faulty
    from tests.support.process import Running
    from tests.support.servers import Recorder

# The modules that take longest run first: with `-n 3 --dist loadfile` each module goes whole to
# one worker, and a long one handed out last would keep the others waiting for it at the end.
LONGEST_FIRST = (
    "test_rest_openapi_conformance.py",
    "test_mcp_seed.py",  # with its SAME_WORKER partners, below
    "test_two_replicas.py",
    "test_limits_clients.py",  # the same
    "test_corpus_run.py",
    "test_reload.py",
    "test_run_cli.py",
    "test_openapi_import_fuzz.py",
    "test_control_management.py",
    "test_network_upstream.py",
    "test_workers.py",
    "test_mcp_conformance_suite.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # Bytecode caches (`__pycache__/`, gitignored) are written even where
    # PYTHONDONTWRITEBYTECODE is set, as on the development machine: otherwise every xdist
    # worker and every `naftiko` process a test starts compiles src/ again, and pytest
    # rewrites every test module's asserts again (~10 CPU-s a run). The workers and the test
    # processes are started after this and inherit it; .ci/run unsets it too.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    # xdist (`--dist loadfile`) would otherwise hand out the modules with the most tests
    # first, not this order: the 3-test schemathesis module then started last and ran
    # alone at the end (`--no-loadscope-reorder`, set here so that every command gets it).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


# Modules handed out with a partner as one work unit of `--dist loadfile`, so that what they
# share is paid for in one worker instead of in each: the limits gateway (a `naftiko run`
# process, a session fixture), and the imports of the clients they drive, the mcp SDK (~0.8
# CPU-s) and the openai SDK (~0.5 CPU-s), both needed by each worker that runs one of them.
SAME_WORKER = {
    "test_limits_upstream.py": "tests/test_limits_clients.py",
    **dict.fromkeys(
        (
            "test_mcp_features.py",
            "test_oauth_resource_server.py",
            "test_oauth_keys.py",  # the authorization server is built with the mcp SDK
            "test_tracing.py",  # the same
            "test_openapi_roundtrip.py",
            "test_rest_seed.py",  # openai
            "test_network_serving.py",  # openai
        ),
        "tests/test_mcp_seed.py",
    ),
}


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a hook only xdist declares
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the modules of `SAME_WORKER` in their partner's work unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    def work_unit(nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        return SAME_WORKER.get(file.rsplit("/", 1)[-1], file)

    scheduler = LoadFileScheduling(config, log)
    scheduler._split_scope = work_unit  # xdist's key of a work unit: for loadfile, the file
    return scheduler


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_collection_finish() -> None:
    # What collection built (every module imported, every test item) lives to the end of the
    # run: frozen, the cycle collector's full passes no longer walk it again and again
    # (as `naftiko run` freezes its start-up, listeners.py).
    gc.collect()
    gc.freeze()


_default_ssl_context = httpcore2.default_ssl_context


@functools.cache
def _ssl_context(trust_env: bool, cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return _default_ssl_context(_trust_env=trust_env)


def _shared_ssl_context(*, _trust_env: bool = True) -> ssl.SSLContext:
    """httpx2's default context, made once per trust setting instead of once per client."""
    environ = os.environ
    return _ssl_context(_trust_env, environ.get("SSL_CERT_FILE"), environ.get("SSL_CERT_DIR"))


@pytest.fixture(scope="session", autouse=True)
def shared_default_ssl_context() -> Iterator[None]:
    """Each httpx2 client parses the system CA bundle into a new SSLContext (~40 ms), even for
    plain http://; the tests make a few hundred clients, so that was ~10 s of CPU. The default
    context is shared instead: nothing mutates it but httpcore's ALPN setting, always
    HTTP/1.1 here (no test client speaks HTTP/2)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpcore2, "default_ssl_context", _shared_ssl_context)
        yield


@pytest.fixture(scope="session")
def groq_upstream() -> Iterator[tuple[str, Recorder]]:
    from tests.support.groq import groq_app
    from tests.support.servers import Recorder, serve_app

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
    from tests.support.faulty import limits_gateway

    with limits_gateway(tmp_path_factory.mktemp("limits")) as running:
        yield running
