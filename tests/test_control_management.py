"""The control port's management endpoints (each only when its flag is on, behind the control
adapter's authentication) and readiness that means something: 503 while draining, before the
listeners close, and, with `--ready-upstreams`, while an upstream does not accept connections."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from naftiko.settings import Settings
from tests.support.inprocess import serving
from tests.support.process import naftiko_run
from tests.support.specs import ORDERS_REST, REPO, write_capability

KEY = {"X-Control-Key": "k3y"}
AUTH = {"type": "apikey", "key": "X-Control-Key", "value": "k3y"}


INVALID = REPO / "tests" / "fixtures" / "specs" / "invalid"


def _control(**management: Any) -> dict[str, Any]:
    return {"type": "control", "port": 0, "namespace": "control", "management": management}


async def test_management_endpoints_exist_only_when_their_flag_is_on(tmp_path: Path) -> None:
    spec = write_capability(tmp_path, ORDERS_REST, _control())
    async with serving(spec) as gateway, gateway.client("control") as client:
        for method, path in [
            ("POST", "/config/reload"),
            ("POST", "/config/validate"),
            ("GET", "/logs"),
            ("GET", "/logs/stream"),
        ]:
            assert (await client.request(method, path)).status_code == 404


async def test_validate_answers_a_candidate_spec_with_its_located_problems(
    tmp_path: Path,
) -> None:
    control = {**_control(validate=True), "authentication": AUTH}
    spec = write_capability(tmp_path, ORDERS_REST, control)
    async with serving(spec) as gateway, gateway.client("control") as client:
        assert (await client.post("/config/validate", content=spec.read_text())).status_code == 401
        valid = await client.post("/config/validate", content=spec.read_text(), headers=KEY)
        assert valid.json() == {"valid": True, "errors": [], "warnings": []}
        candidate = "naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - {type: rest, port: x}\n"
        answer = await client.post("/config/validate", content=candidate, headers=KEY)
    body = answer.json()
    assert answer.status_code == 200 and body["valid"] is False
    port = next(e for e in body["errors"] if e["path"] == "capability.exposes[0].port")
    assert (port["line"], port["column"]) == (4, 24)
    assert "valid integer" in port["message"]


async def test_validate_answers_an_alias_bomb_with_its_problem_not_with_a_hang(
    tmp_path: Path,
) -> None:
    # Nine levels of nine aliases: 387 million values from 400 bytes, if expanded.
    bomb = (INVALID / "yaml-alias-bomb.yaml").read_text()
    spec = write_capability(tmp_path, ORDERS_REST, _control(validate=True))
    async with serving(spec) as gateway, gateway.client("control") as client:
        answer = await client.post("/config/validate", content=bomb)
    assert answer.status_code == 200
    assert answer.json()["errors"] == [
        {
            "line": 4,
            "column": 25,
            "path": "",
            "message": "aliases expand beyond ten times the file's size",
        }
    ]


async def test_validate_answers_an_integer_python_cannot_read_with_its_problem(
    tmp_path: Path,
) -> None:
    candidate = "naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - {type: rest, port: %s}\n"
    spec = write_capability(tmp_path, ORDERS_REST, _control(validate=True))
    async with serving(spec) as gateway, gateway.client("control") as client:
        answer = await client.post("/config/validate", content=candidate % ("9" * 5000))
    assert answer.status_code == 200
    assert answer.json()["errors"] == [
        {"line": 4, "column": 24, "path": "", "message": "bad YAML value: too many digits"}
    ]


async def test_the_log_level_is_read_and_changed_and_a_bad_level_is_a_400(
    tmp_path: Path,
) -> None:
    spec = write_capability(tmp_path, ORDERS_REST, _control(logs={"level-control": True}))
    async with serving(spec) as gateway, gateway.client("control") as client:
        before = (await client.get("/logs")).json()["level"]
        try:
            assert (await client.put("/logs", json={"level": "debug"})).json() == {"level": "debug"}
            assert (await client.get("/logs")).json() == {"level": "debug"}
            bad = await client.put("/logs", json={"level": "loud"})
            assert bad.status_code == 400
            assert bad.headers["content-type"] == "application/problem+json"
            deep = await client.put("/logs", content=b"[" * 100_000)
            assert (deep.status_code, deep.headers["content-type"]) == (
                400,
                "application/problem+json",
            )
            assert (await client.get("/logs/stream")).status_code == 404  # stream not asked for
        finally:
            await client.put("/logs", json={"level": before})


def test_the_log_stream_sends_log_lines_as_events_to_a_bounded_number_of_subscribers(
    tmp_path: Path,
) -> None:
    logs = {"level-control": True, "stream": True, "max-subscribers": 1}
    spec = write_capability(tmp_path, ORDERS_REST, _control(logs=logs))
    with naftiko_run(spec, adapters=2) as running:
        control, rest = running.url("control"), running.url("orders-rest")
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", control + "/logs/stream") as s,
        ):
            assert s.headers["content-type"].startswith("text/event-stream")
            lines = s.iter_lines()
            assert next(lines) == ": subscribed"
            second = httpx.get(control + "/logs/stream", timeout=10)
            assert second.status_code == 503 and second.headers["Retry-After"] == "5"
            assert httpx.get(rest + "/orders").status_code == 200
            event = next(line for line in lines if "orders-rest GET /orders 200" in line)
            assert event.startswith("data: ")


def test_readiness_turns_503_while_draining_before_the_listeners_close(tmp_path: Path) -> None:
    spec = write_capability(tmp_path, ORDERS_REST, _control(health=True))
    with naftiko_run(spec, args=("--drain-delay", "1"), adapters=2) as running:
        ready, rest = running.url("control") + "/health/ready", running.url("orders-rest")
        assert httpx.get(ready).status_code == 200
        running.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (answer := httpx.get(ready)).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert answer.status_code == 503
        assert answer.json()["reasons"] == ["draining: the process is stopping"]
        # Not ready, yet still serving: the balancer stops sending before anyone is refused.
        assert httpx.get(rest + "/orders").json() == {"count": 2}
        assert running.process.wait(15) == 0


async def test_ready_upstreams_makes_readiness_wait_for_the_upstream(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    consumes = [{"type": "http", "namespace": "backend", "baseUri": f"http://127.0.0.1:{port}"}]
    spec = write_capability(tmp_path, ORDERS_REST, _control())
    text = spec.read_text().replace("capability:\n", f"capability:\n  consumes: {consumes}\n", 1)
    spec.write_text(text)
    settings = Settings(ready_upstreams=True)
    async with serving(spec, settings=settings) as gateway, gateway.client("control") as client:
        for served in gateway.runtime.served:
            served.state = "started"
        closed = await client.get("/health/ready")
        listener.listen()
        opened = await client.get("/health/ready")
    listener.close()
    assert closed.status_code == 503
    [reason] = closed.json()["reasons"]
    assert reason.startswith(f"upstream backend (127.0.0.1:{port}) unreachable")
    assert opened.status_code == 200
