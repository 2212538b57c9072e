"""No upstream can exhaust the gateway: bounded bodies, streamed pass-through, at most one
retry, and every fault an answer (a faulty raw upstream behind `naftiko run`)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko import safejson
from naftiko.engine.options import Timeouts
from naftiko.settings import Settings
from tests.support.cycles import naftiko_cycles
from tests.support.faulty import (
    SECRET,
    Faulty,
    faulty_spec,
    faulty_upstream,
    open_fds,
    rss_mib,
    settled_fds,
)
from tests.support.inprocess import mcp_call, serving
from tests.support.mcp_client import rpc
from tests.support.process import Running
from tests.support.yamlio import dump_yaml

LIMIT_TEXT = "larger than the 1 MiB limit (--max-upstream-body)"


@pytest.fixture
def gateway(limits: tuple[Running, Faulty]) -> tuple[Running, Faulty]:
    return limits


@pytest.fixture
def http(gateway: tuple[Running, Faulty]) -> Iterator[httpx.Client]:
    gateway[1].attempts.clear()
    with httpx.Client(base_url=gateway[0].url("limits-rest"), timeout=20) as client:
        yield client


def _call(gateway: tuple[Running, Faulty], tool: str, **arguments: Any) -> dict[str, Any]:
    response = rpc(
        gateway[0].url("limits-mcp"), "tools/call", {"name": tool, "arguments": arguments}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


@pytest.mark.parametrize("route", ["/m/huge/5000000", "/f/huge/5000000", "/m/endless/x"])
def test_a_body_past_the_upstream_limit_is_a_502_naming_the_limit(
    http: httpx.Client, route: str
) -> None:
    response = http.get(route)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert LIMIT_TEXT in response.json()["detail"]


def test_endless_bodies_leave_memory_and_descriptors_where_they_were(
    gateway: tuple[Running, Faulty], http: httpx.Client
) -> None:
    pid = gateway[0].process.pid
    http.get("/f/ok/x")
    rss, fds = rss_mib(pid), open_fds(pid)
    for _ in range(8):
        assert http.get("/m/endless/x").status_code == 502
        with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", "/f/endless/x") as r:
            assert r.status_code == 200
            for _chunk in r.iter_bytes():
                pass
    assert rss_mib(pid) < rss + 64
    assert settled_fds(pid, fds) <= fds


def test_a_pass_through_body_is_streamed_whole(http: httpx.Client) -> None:
    with http.stream("GET", "/f/stream/900000") as response:
        assert "content-length" not in response.headers  # sent on as it arrives
        body = response.read()
    assert response.status_code == 200
    assert json.loads(body) == [0] * 450_001


def test_an_endless_pass_through_body_is_cut_at_the_limit(http: httpx.Client) -> None:
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", "/f/endless/x") as r:
        for chunk in r.iter_bytes():
            received += len(chunk)
    # Everything up to the limit, less what was in flight when it was hit: the chunk that
    # crossed it and, under load, the one read before it (aiohttp reads up to 64 KiB at once).
    assert 1024 * 1024 - 2 * 64 * 1024 <= received <= 1024 * 1024


@pytest.mark.parametrize("cut", [3, 12, 20, 30])
def test_a_secret_echoed_across_two_chunks_is_still_masked(http: httpx.Client, cut: int) -> None:
    response = http.get(f"/f/secret/{cut}")
    assert response.status_code == 200
    assert response.json() == {"echo": "***"}


@pytest.mark.parametrize(
    ("route", "status"),
    [
        ("/f/500/x", 500),
        ("/f/html/x", 502),
        ("/m/midclose/x", 502),
        ("/f/reset/x", 502),
        ("/refused", 502),
    ],
)
def test_each_upstream_fault_is_an_answer(http: httpx.Client, route: str, status: int) -> None:
    response = http.get(route)
    assert response.status_code == status
    if status != 500:
        assert response.headers["content-type"] == "application/problem+json"


def test_a_reset_on_a_pooled_connection_is_retried_once_and_no_more(
    gateway: tuple[Running, Faulty], http: httpx.Client
) -> None:
    assert http.get("/f/ok/x").status_code == 200  # leaves a pooled connection
    assert http.get("/f/reset/x").status_code == 502
    assert gateway[1].attempts["reset"] == 2
    assert http.get("/f/reset/x").status_code == 502  # no pooled connection left: no retry
    assert gateway[1].attempts["reset"] == 3


def test_other_routes_are_served_while_an_upstream_hangs(
    gateway: tuple[Running, Faulty], http: httpx.Client
) -> None:
    answers: list[int] = []
    hanging = threading.Thread(target=lambda: answers.append(http.get("/f/hang/x").status_code))
    hanging.start()
    with httpx.Client(base_url=gateway[0].url("limits-rest"), timeout=20) as probe:
        probes = [probe.get("/f/ok/x").status_code for _ in range(20)]
    hanging.join(30)
    assert probes == [200] * 20
    assert answers == [504]


def test_an_mcp_tool_over_a_huge_or_hanging_upstream_is_an_error_result(
    gateway: tuple[Running, Faulty],
) -> None:
    huge = _call(gateway, "fault", fault="huge", arg="5000000")
    hang = _call(gateway, "fault", fault="hang", arg="x")
    assert huge["isError"] is True
    assert LIMIT_TEXT in huge["content"][0]["text"]
    assert hang["isError"] is True
    assert "did not answer in time" in hang["content"][0]["text"]


# ------------------------------------------------------------ answers no framework would send
# In-process: the adapters' ASGI apps over the real pooled clients, the raw upstream on loopback.


@pytest.fixture(scope="module")
def raw_upstream() -> Iterator[Faulty]:
    with faulty_upstream() as upstream:
        yield upstream


@asynccontextmanager
async def _clients(
    folder: Path, upstream: Faulty, settings: Settings | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    spec = faulty_spec(folder, upstream.url, "http://127.0.0.1:9")
    async with (
        serving(spec, env={"LIMITS_SECRET": SECRET}, settings=settings) as gateway,
        gateway.client("limits-rest") as rest,
        gateway.client("limits-mcp") as mcp,
    ):
        yield rest, mcp


async def test_upstream_header_bytes_past_ascii_are_passed_back_as_sent(
    tmp_path: Path, raw_upstream: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    async with _clients(tmp_path, raw_upstream) as (rest, _):
        utf8 = await rest.get("/f/raw/utf8-header")
        latin1 = await rest.get("/m/raw/latin1-header")
    assert (utf8.status_code, latin1.status_code) == (200, 200)
    # The same bytes, not a 500: HTTP headers are bytes, and the gateway relays them.
    assert (b"x-ratelimit-policy", "café-☃".encode()) in utf8.headers.raw
    assert (b"etag", b'"caf\xe9"') in latin1.headers.raw
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("answer", "status"), [("switching", 101), ("status-099", 99), ("status-600", 600)]
)
async def test_an_upstream_status_that_is_not_a_final_http_status_is_a_502(
    tmp_path: Path, raw_upstream: Faulty, answer: str, status: int
) -> None:
    async with _clients(tmp_path, raw_upstream) as (rest, mcp):
        passed = await rest.get(f"/f/raw/{answer}")
        mapped = await rest.get(f"/m/raw/{answer}")
        tool = await mcp_call(mcp, "fault", {"fault": "raw", "arg": answer})
    detail = f"upstream 'faulty' answered with status {status}, not a final HTTP status"
    assert (passed.status_code, passed.json()["detail"]) == (502, detail)
    assert (mapped.status_code, mapped.json()["detail"]) == (502, detail)
    assert tool == {"content": [{"type": "text", "text": detail}], "isError": True}


@pytest.mark.parametrize("answer", ["nan", "overflow", "surrogate", "deep-object"])
async def test_upstream_json_that_is_not_rfc_8259_never_reaches_a_caller_as_invalid_json(
    tmp_path: Path, raw_upstream: Faulty, answer: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with _clients(tmp_path, raw_upstream) as (rest, mcp):
        mapped = await rest.get(f"/m/raw/{answer}")
        answered = await mcp.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "fault", "arguments": {"fault": "raw", "arg": answer}},
            },
        )
    # Mapped outputs are the gateway's own JSON: an upstream value JSON cannot hold is a 502.
    assert mapped.status_code == 502
    assert mapped.json()["detail"].startswith("upstream answered json that cannot be parsed")
    # A pass-through tool result keeps the upstream's text, without structured content
    # that no JSON parser on the caller's side would read (NaN, Infinity, a lone surrogate).
    result = safejson.loads(answered.content)["result"]
    assert result["isError"] is False
    assert "structuredContent" not in result
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_upstream_error_nested_past_the_parser_is_an_error_result(
    tmp_path: Path, raw_upstream: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    async with _clients(tmp_path, raw_upstream) as (rest, mcp):
        passed = await rest.get("/f/raw/deep-error")
        tool = await mcp_call(mcp, "fault", {"fault": "raw", "arg": "deep-error"})
    assert passed.status_code == 400  # the upstream's own JSON error, passed on as it is
    assert tool["isError"] is True
    assert tool["content"][0]["text"].startswith("upstream answered 400: [[[[")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_pass_through_whose_first_byte_never_comes_is_a_504_not_a_500(
    tmp_path: Path, raw_upstream: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(timeouts=Timeouts(total=0.2))
    async with _clients(tmp_path, raw_upstream, settings) as (rest, _):
        response = await rest.get("/f/raw/stalled")
    assert (response.status_code, response.headers["content-type"]) == (
        504,
        "application/problem+json",
    )
    assert response.json()["detail"] == "upstream 'faulty' did not answer in time"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_pass_through_past_the_limit_in_its_first_chunk_is_a_502(
    tmp_path: Path, raw_upstream: Faulty
) -> None:
    async with _clients(tmp_path, raw_upstream, Settings(max_upstream_body=1000)) as (rest, _):
        response = await rest.get("/f/stream/200000")
    assert response.status_code == 502
    assert response.json()["detail"] == (
        "upstream 'faulty' sent a body larger than the 1000-byte limit (--max-upstream-body)"
    )


@pytest.mark.parametrize("answer", ["two-lengths", "no-content-with-body", "garbage"])
async def test_an_answer_that_is_not_valid_http_is_a_502_saying_so(
    tmp_path: Path, raw_upstream: Faulty, answer: str
) -> None:
    async with _clients(tmp_path, raw_upstream) as (rest, mcp):
        response = await rest.get(f"/f/raw/{answer}")
        tool = await mcp_call(mcp, "fault", {"fault": "raw", "arg": answer})
    detail = "upstream 'faulty' sent an answer that is not valid HTTP"
    assert (response.status_code, response.json()["detail"]) == (502, detail)
    assert tool == {"content": [{"type": "text", "text": detail}], "isError": True}


def _guarded_spec(
    folder: Path, upstream: Faulty, authentication: dict[str, Any], path: str = "/ok/x"
) -> Path:
    """`GET /thing`: a call to the raw upstream's `path` with these credentials."""
    document = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Tokens"},
        "capability": {
            "consumes": [
                {
                    "namespace": "guarded",
                    "type": "http",
                    "baseUri": upstream.url,
                    "authentication": authentication,
                    "resources": [
                        {
                            "name": "r",
                            "path": path,
                            "operations": [{"name": "get", "method": "GET"}],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "tokens-rest",
                    "port": 0,
                    "resources": [
                        {
                            "path": "/thing",
                            "name": "thing",
                            "operations": [{"method": "GET", "name": "get", "call": "guarded.get"}],
                        }
                    ],
                }
            ],
        },
    }
    spec = folder / "tokens.yaml"
    spec.write_text(dump_yaml(document, sort_keys=False))
    return spec


@pytest.mark.parametrize(
    ("token_path", "detail"),
    [
        ("/raw/deep-object", "OAuth2 token endpoint failed"),
        ("/raw/nan", "OAuth2 token endpoint failed"),
        ("/endless/x", "OAuth2 token endpoint failed"),
        (
            "/raw/token-control",
            "OAuth2 token endpoint answered an access_token no header can carry",
        ),
    ],
)
async def test_a_token_endpoint_answering_hostile_json_or_without_end_is_a_502(
    tmp_path: Path,
    raw_upstream: Faulty,
    token_path: str,
    detail: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The limit and the timeout both bound the endless answer: the limit must come first.
    settings = Settings(timeouts=Timeouts(total=5), max_upstream_body=64 * 1024)
    oauth2 = {
        "type": "oauth2",
        "authorizationServerUri": raw_upstream.url,
        "tokenEndpoint": raw_upstream.url + token_path,
        "clientId": "client-1",
        "clientSecret": "client-secret-1",
    }
    spec = _guarded_spec(tmp_path, raw_upstream, oauth2)
    async with serving(spec, settings=settings) as gateway, gateway.client("tokens-rest") as c:
        response = await c.get("/thing")
    assert (response.status_code, response.json()["detail"]) == (502, detail)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_digest_challenge_that_cannot_be_quoted_back_is_not_answered(
    tmp_path: Path, raw_upstream: Faulty
) -> None:
    # Its nonce holds a control character: copied into our Authorization header, the HTTP
    # client refused to send it (a 500). The 401 stands, as for refused credentials.
    digest = {"type": "digest", "username": "ops", "password": "s3cret-digest"}
    raw_upstream.attempts.clear()
    spec = _guarded_spec(tmp_path, raw_upstream, digest, "/raw/digest-control")
    async with serving(spec) as gateway, gateway.client("tokens-rest") as c:
        response = await c.get("/thing")
    assert (response.status_code, response.json()["detail"]) == (
        502,
        "upstream 'guarded' refused the gateway's configured credentials (401)",
    )
    assert raw_upstream.attempts["raw"] == 1  # no second attempt


async def test_failed_upstream_calls_leave_no_reference_cycles(
    tmp_path: Path, raw_upstream: Faulty
) -> None:
    # aiohttp's connector and aiohappyeyeballs keep an exception in a local of a frame its
    # own traceback holds: `upstream._failure` drops those tracebacks, so that our frames
    # (and what they hold) do not wait for the cycle collector, which runs rarely.
    routes = ("/refused", "/m/midclose/x", "/f/reset/x", "/m/html/x", "/f/hang/x")
    settings = Settings(timeouts=Timeouts(total=0.5))  # for the hanging one: a 504
    async with _clients(tmp_path, raw_upstream, settings) as (rest, _):
        assert (await rest.get("/f/ok/x")).status_code == 200
        with naftiko_cycles() as left:
            for route in routes:
                await rest.get(route)
    assert left == []
