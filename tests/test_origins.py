"""Browsers: DNS-rebinding and Origin checks on MCP, CORS on REST (SECURITY.md §5-6)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from naftiko.runtime import StartupError, origin_policy
from naftiko.settings import Settings
from tests.support.groq import TOKEN as GROQ_TOKEN
from tests.support.inprocess import Gateway, serving
from tests.support.servers import Recorder
from tests.support.specs import seed_for

APP = "http://app.example:3000"
EVIL = "http://evil.example"
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
# What Chromium sends before a cross-origin `fetch(url, {method: "POST", body: json,
# headers: {"Content-Type": "application/json"}})`.
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Dest": "empty",
    "Accept": "*/*",
}


@pytest.fixture
def seed(tmp_path: Path, groq_upstream: tuple[str, Recorder]) -> Path:
    groq_upstream[1].requests.clear()
    return seed_for(groq_upstream[0], tmp_path)


def _serving(seed: Path) -> AbstractAsyncContextManager[Gateway]:
    # Entered in each test: the MCP session manager's task group must exit in its own task.
    settings = Settings(allow_origins=(APP,))
    return serving(seed, env={"GROQ_API_KEY": GROQ_TOKEN}, settings=settings)


async def test_mcp_refuses_a_foreign_origin_before_any_tool_runs(
    seed: Path, groq_upstream: tuple[str, Recorder]
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "cancels-batch", "arguments": {"batch_id": "b1"}},
    }
    async with _serving(seed) as gateway, gateway.client("groq-batch-mcp") as c:
        response = await c.post("/mcp", json=call, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert groq_upstream[1].requests == []


async def test_mcp_on_loopback_refuses_a_foreign_host(seed: Path) -> None:
    async with (
        _serving(seed) as gateway,
        gateway.client("groq-batch-mcp", host="evil.example:9090") as c,
    ):
        response = await c.post("/mcp", json=LIST)
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:9090", "localhost:9090", "[::1]:9090", "localhost"])
async def test_mcp_serves_loopback_hosts_and_clients_without_origin(seed: Path, host: str) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-mcp", host=host) as c:
        response = await c.post("/mcp", json=LIST)
    assert response.status_code == 200
    assert response.json()["result"]["tools"]


async def test_mcp_serves_an_allowed_origin_with_cors_headers(seed: Path) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-mcp") as c:
        response = await c.post("/mcp", json=LIST, headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["vary"] == "Origin"


async def test_rest_answers_a_browser_preflight_from_an_allowed_origin(seed: Path) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-rest") as c:
        response = await c.options("/v1/openai/v1/batches", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST"
    assert "content-type" in response.headers["access-control-allow-headers"].split(", ")
    assert "authorization" in response.headers["access-control-allow-headers"].split(", ")
    assert response.headers["vary"] == "Origin"


async def test_rest_names_only_the_methods_a_path_has(seed: Path) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-rest") as c:
        response = await c.options("/v1/openai/v1/batches/b1/cancel", headers=PREFLIGHT)
    assert response.headers["access-control-allow-methods"] == "POST"


async def test_rest_gives_nothing_to_a_foreign_origin(
    seed: Path, groq_upstream: tuple[str, Recorder]
) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-rest") as c:
        preflight = await c.options("/v1/openai/v1/batches", headers={**PREFLIGHT, "Origin": EVIL})
        read = await c.get("/v1/openai/v1/batches", headers={"Origin": EVIL})
        write = await c.post("/v1/openai/v1/batches/b1/cancel", headers={"Origin": EVIL})
    assert preflight.status_code == 403
    assert read.status_code == 200  # served, but the browser keeps it from the page:
    for response in (preflight, read, write):
        assert "access-control-allow-origin" not in response.headers
    assert write.status_code == 403  # a cross-site write never runs
    assert [r.method for r in groq_upstream[1].requests] == ["GET"]


async def test_rest_answers_an_allowed_origin_with_its_own_origin(seed: Path) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-rest") as c:
        response = await c.get("/v1/openai/v1/batches", headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP


def test_allowed_origins_also_come_from_the_environment() -> None:
    policy = origin_policy(
        Settings(), {"NAFTIKO_ALLOW_ORIGINS": "https://a.example, HTTP://B.example:80"}
    )
    assert policy.origins == {"https://a.example", "http://b.example"}
    assert policy.allows_origin("https://a.example")
    assert not policy.allows_origin("https://a.example.evil")
    assert policy.allows_host("b.example:8080")


def test_a_malformed_origin_stops_run_with_one_line() -> None:
    with pytest.raises(StartupError, match="not an origin"):
        origin_policy(Settings(allow_origins=("app.example/path",)), {})


@pytest.mark.parametrize(
    "origin", ["http://localhost:6274", "http://127.0.0.1:9090", "http://[::1]"]
)
async def test_mcp_admits_a_page_on_this_machine_without_granting_cors(
    seed: Path, origin: str
) -> None:
    async with _serving(seed) as gateway, gateway.client("groq-batch-mcp") as c:
        response = await c.post("/mcp", json=LIST, headers={"Origin": origin})
        preflight = await c.options("/mcp", headers={**PREFLIGHT, "Origin": origin})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert preflight.status_code == 403
