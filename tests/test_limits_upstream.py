"""No upstream can exhaust the gateway: bounded bodies, streamed pass-through, at most one
retry, and every fault an answer (a faulty raw upstream behind `naftiko run`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.faulty import (
    Faulty,
    open_fds,
    rss_mib,
    settled_fds,
)
from tests.support.mcp_client import rpc
from tests.support.process import Running

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
