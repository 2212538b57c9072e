"""The control port: health probes, status and metrics of a served runtime (listeners in a
thread, tests/support/threaded.py); the switches that turn endpoints off, served in-process."""

from __future__ import annotations

import platform
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko import __version__
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.inprocess import serving
from tests.support.problems import problem_body
from tests.support.specs import ORDERS_REST, write_capability
from tests.support.threaded import Gateway, naftiko_thread

SKILL = {
    "type": "skill",
    "port": 0,
    "namespace": "orders-skills",
    "skills": [{"name": "onboarding", "description": "A descriptive skill"}],
}


def _control(**changes: Any) -> dict[str, Any]:
    return {"type": "control", "port": 0, **changes}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    control = _control(management={"health": True, "info": True})
    spec = write_capability(tmp_path_factory.mktemp("control"), ORDERS_REST, SKILL, control)
    with naftiko_thread(spec) as running:
        yield running


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url("control")) as client:
        yield client


def _port(running: Gateway, namespace: str) -> int:
    return int(running.url(namespace).rsplit(":", 1)[1])


def _adapters(running: Gateway, *kinds: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"type": kind, "namespace": ns, "port": _port(running, ns), "state": "started"}
        for kind, ns in kinds
    ]


def test_liveness_is_up(client: httpx.Client) -> None:
    response = client.get("/health/live")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "UP"}


def test_readiness_lists_the_business_adapters_once_all_are_started(
    gateway: Gateway, client: httpx.Client
) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "UP",
        "adapters": _adapters(gateway, ("rest", "orders-rest"), ("skill", "orders-skills")),
    }


def test_status_describes_the_capability_the_engine_and_every_adapter(
    gateway: Gateway, client: httpx.Client
) -> None:
    body = client.get("/status").json()
    assert re.fullmatch(r"PT\d+\.\d{3}S", body.pop("uptime"))
    assert body == {
        "capability": {"label": "Orders", "specVersion": "1.0.0-alpha2"},
        "otel": {"status": "inactive"},
        "engine": {"version": __version__, "python": platform.python_version()},
        "adapters": _adapters(
            gateway,
            ("rest", "orders-rest"),
            ("skill", "orders-skills"),
            ("control", "control"),
        ),
    }


def _count(metrics: str, **labels: str) -> int:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^naftiko_request_total\{{{re.escape(wanted)}\}} ([\d.]+)$", metrics, re.M)
    return int(float(match.group(1))) if match else 0


def test_metrics_count_a_request_to_the_sibling_rest_adapter(
    gateway: Gateway, client: httpx.Client
) -> None:
    labels = {
        "naftiko_adapter_type": "rest",
        "naftiko_operation_id": "/orders GET",
        "status": "200",
    }
    before = _count(client.get("/metrics").text, **labels)
    assert httpx.get(gateway.url("orders-rest") + "/orders").json() == {"count": 2}
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert _count(response.text, **labels) == before + 1
    assert "naftiko_request_duration_seconds_count{" in response.text


def test_an_unknown_path_is_404(client: httpx.Client) -> None:
    assert problem_body(client.get("/traces"), 404)["detail"] == "no resource at /traces"


def test_the_endpoints_are_read_only(client: httpx.Client) -> None:
    response = client.post("/health/live")
    assert problem_body(response, 405)["allow"] == ["GET", "HEAD", "OPTIONS"]
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_status_is_off_by_default_and_health_can_be_switched_off(tmp_path: Path) -> None:
    spec = write_capability(tmp_path, ORDERS_REST, _control(management={"health": False}))
    async with serving(spec) as gateway, gateway.client("control") as client:
        for path in ("/health/live", "/health/ready", "/status"):
            problem_body(await client.get(path), 404)
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.parametrize(
    "observability",
    [{"enabled": False}, {"metrics": {"local": {"enabled": False}}}],
    ids=["observability-off", "local-metrics-off"],
)
async def test_metrics_can_be_switched_off(tmp_path: Path, observability: dict[str, Any]) -> None:
    spec = write_capability(tmp_path, ORDERS_REST, _control(observability=observability))
    async with serving(spec) as gateway, gateway.client("control") as client:
        problem_body(await client.get("/metrics"), 404)
        assert (await client.get("/health/live")).json() == {"status": "UP"}


async def test_a_guarded_control_port_needs_the_key(tmp_path: Path) -> None:
    auth = {"type": "apikey", "key": "X-Control-Key", "value": "k3y"}
    spec = write_capability(tmp_path, ORDERS_REST, _control(authentication=auth))
    async with serving(spec) as gateway, gateway.client("control") as client:
        problem_body(await client.get("/health/live"), 401)
        problem_body(await client.get("/health/live", headers={"X-Control-Key": "wrong"}), 401)
        live = await client.get("/health/live", headers={"X-Control-Key": "k3y"})
        assert live.json() == {"status": "UP"}


async def test_readiness_is_degraded_with_503_until_the_adapters_are_started(
    tmp_path: Path,
) -> None:
    runtime = build([write_capability(tmp_path, ORDERS_REST, _control())], Settings(), {})
    control = next(s.adapter for s in runtime.served if s.kind == "control")
    transport = httpx.ASGITransport(app=control.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "DEGRADED",
        "adapters": [{"type": "rest", "namespace": "orders-rest", "port": 0, "state": "stopped"}],
    }
