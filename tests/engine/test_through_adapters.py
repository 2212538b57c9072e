"""Issue 11 behaviours seen through the real adapters (ASGI apps, in-process): query arrays,
optional body fields, and a failing step as REST problem+json and as an MCP error result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine_harness import Answer, write_spec
from tests.support.inprocess import mcp_call, serving
from tests.support.servers import Recorder
from tests.support.transport import Upstream, recording_upstream, scripted

ANSWERS: dict[str, Answer] = {
    "/ships/NOPE": (404, b'{"message": "no ship NOPE"}', "application/json"),
}


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return recording_upstream(scripted(ANSWERS))


@pytest.fixture
def seen(upstream: Upstream) -> Recorder:
    upstream[1].requests.clear()
    return upstream[1]


def _spec(folder: Path, base: str) -> Path:
    ops = [
        {
            "name": "search",
            "method": "GET",
            "path": "/search",
            "inputParameters": [{"name": "$select", "in": "query", "value": "{{fields}}"}],
        },
        {
            "name": "voyage",
            "method": "POST",
            "path": "/voyages",
            "body": '{"crewIds": {{crewIds}}, "cargoIds": {{cargoIds}}}',
        },
        {"name": "ship", "method": "GET", "path": "/ships/{{imo}}"},
        {"name": "crew", "method": "GET", "path": "/crew"},
    ]
    steps = [
        {"type": "call", "name": "get-ship", "call": "reg.ship", "with": {"imo": "{{imo}}"}},
        {"type": "call", "name": "get-crew", "call": "reg.crew"},
    ]
    imo = {"name": "imo", "type": "string", "required": True}
    rest = {
        "type": "rest",
        "port": 0,
        "namespace": "fleet-rest",
        "resources": [
            {
                "path": "/search",
                "operations": [
                    {
                        "method": "GET",
                        "call": "reg.search",
                        "inputParameters": [{"name": "fields", "in": "query", "type": "array"}],
                    }
                ],
            },
            {
                "path": "/voyages",
                "operations": [
                    {
                        "method": "POST",
                        "call": "reg.voyage",
                        "inputParameters": [
                            {"name": "crewIds", "in": "body", "type": "array"},
                            {"name": "cargoIds", "in": "body", "type": "array"},
                        ],
                    }
                ],
            },
            {
                "path": "/ships/{imo}/crew",
                "operations": [
                    {
                        "method": "GET",
                        "steps": steps,
                        "mappings": [{"targetName": "crew", "value": "$.get-crew"}],
                    }
                ],
            },
        ],
    }
    mcp = {
        "type": "mcp",
        "port": 0,
        "namespace": "fleet-mcp",
        "tools": [
            {
                "name": "crew",
                "description": "d",
                "inputParameters": [imo],
                "steps": steps,
                "mappings": [{"targetName": "crew", "value": "$.get-crew"}],
            }
        ],
    }
    document: dict[str, Any] = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [rest, mcp],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "reg",
                    "baseUri": base,
                    "resources": [{"name": "r", "path": "/", "operations": ops}],
                }
            ],
        },
    }
    return write_spec(folder, document)


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("fields=id", "%24select=id"),
        ("fields=id&fields=topic", "%24select=id&%24select=topic"),
        ("fields=%5B%22id%22%5D", "%24select=id"),
    ],
)
async def test_a_rest_array_query_argument_reaches_the_upstream_exploded(
    upstream: Upstream, seen: Recorder, tmp_path: Path, query: str, sent: str
) -> None:
    async with (
        serving(_spec(tmp_path, upstream[0]), transport=upstream[2]) as gw,
        gw.client("fleet-rest") as c,
    ):
        response = await c.get(f"/search?{query}")
    assert response.status_code == 200, response.text
    assert seen.requests[-1].query == sent


async def test_an_optional_body_field_left_out_is_absent_not_the_whole_body(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    async with (
        serving(_spec(tmp_path, upstream[0]), transport=upstream[2]) as gw,
        gw.client("fleet-rest") as c,
    ):
        response = await c.post("/voyages", json={"crewIds": [1, 2]})
    assert response.status_code == 200, response.text
    assert json.loads(seen.requests[-1].body) == {"crewIds": [1, 2]}


async def test_a_failing_step_is_the_rest_status_with_a_problem_naming_the_step(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    async with (
        serving(_spec(tmp_path, upstream[0]), transport=upstream[2]) as gw,
        gw.client("fleet-rest") as c,
    ):
        response = await c.get("/ships/NOPE/crew")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["step"], problem["detail"]) == (
        "get-ship",
        "step 'get-ship' failed: no ship NOPE",
    )
    assert [r.raw_path for r in seen.requests] == ["/ships/NOPE"]


async def test_a_failing_step_is_an_mcp_error_result_naming_the_step(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    async with (
        serving(_spec(tmp_path, upstream[0]), transport=upstream[2]) as gw,
        gw.client("fleet-mcp") as c,
    ):
        result = await mcp_call(c, "crew", {"imo": "NOPE"})
    assert result["isError"] is True
    assert result["content"][0]["text"] == (
        "upstream answered 404: step 'get-ship' failed: no ship NOPE"
    )
    assert [r.raw_path for r in seen.requests] == ["/ships/NOPE"]
