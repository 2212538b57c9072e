"""The seed's MCP adapter served by the runtime's listeners (in a thread), driven by the `mcp`
SDK client in both protocol eras, by bare JSON-RPC POSTs, and over stdio (`naftiko run`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest

from tests.support.cycles import naftiko_cycles
from tests.support.groq import TOKEN, batch
from tests.support.mcp_client import INVALID_PARAMS, MODES, mcp_http, mcp_stdio, rpc
from tests.support.servers import Recorder
from tests.support.specs import seed_for
from tests.support.stdio import StdioSession, sdk_transport
from tests.support.threaded import Gateway, naftiko_thread

if TYPE_CHECKING:
    from mcp_types import CallToolResult

MCP = "groq-batch-mcp"
MISSING_BATCH_ID = "invalid argument 'batch_id': required parameter is missing"
NOT_JSON = "Expecting value: line 1 column 1 (char 0)"
HINTS = {
    "creates-and-executes-batch-uploaded": (False, False, False),
    "list-your-organization-s-batches": (True, False, True),
    "retrieves-batch": (True, False, True),
    "cancels-batch": (False, False, False),
}


@pytest.fixture(scope="module")
def seed(groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_for(groq_upstream[0], tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def gateway(seed: Path) -> Iterator[Gateway]:
    with naftiko_thread(seed, env={"GROQ_API_KEY": TOKEN}) as running:
        yield running


@pytest.fixture
def endpoint(gateway: Gateway) -> str:
    return gateway.url(MCP) + "/mcp"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def _text(result: CallToolResult) -> str:
    (content,) = result.content
    assert content.type == "text"
    return content.text


async def test_the_seed_lists_four_tools_annotated_with_their_hints(
    endpoint: str, mode: str
) -> None:
    async with mcp_http(endpoint, mode) as client:
        listed = await client.list_tools()
    hints = {
        t.name: (
            t.annotations.read_only_hint,
            t.annotations.destructive_hint,
            t.annotations.idempotent_hint,
        )
        for t in listed.tools
        if t.annotations is not None
    }
    assert hints == HINTS


async def test_retrieves_batch_requires_a_batch_id(endpoint: str, mode: str) -> None:
    async with mcp_http(endpoint, mode) as client:
        listed = await client.list_tools()
    (retrieve,) = [t for t in listed.tools if t.name == "retrieves-batch"]
    assert retrieve.input_schema == {
        "type": "object",
        "properties": {
            "batch_id": {"type": "string", "description": "The ID of the batch to retrieve."}
        },
        "required": ["batch_id"],
    }


async def test_a_call_reaches_the_upstream_with_the_bound_token(
    endpoint: str, mode: str, recorder: Recorder
) -> None:
    async with mcp_http(endpoint, mode, {"Authorization": "Bearer caller-key"}) as client:
        result = await client.call_tool("retrieves-batch", {"batch_id": "batch_42"})
    assert (result.is_error, result.structured_content) == (False, batch("batch_42"))
    assert json.loads(_text(result)) == batch("batch_42")
    (sent,) = recorder.requests
    assert (sent.method, sent.path) == ("GET", "/openai/v1/batches/batch_42")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_creating_a_batch_sends_the_body_argument_as_json(
    endpoint: str, mode: str, recorder: Recorder
) -> None:
    body = {"input_file_id": "file_01", "endpoint": "/v1/chat/completions"}
    async with mcp_http(endpoint, mode) as client:
        result = await client.call_tool("creates-and-executes-batch-uploaded", {"body": body})
    assert result.structured_content == batch("batch_new")
    (sent,) = recorder.requests
    assert (sent.method, sent.path, json.loads(sent.body)) == ("POST", "/openai/v1/batches", body)


async def test_an_upstream_404_is_an_error_result_with_the_upstream_message(
    endpoint: str, mode: str
) -> None:
    async with mcp_http(endpoint, mode) as client:
        result = await client.call_tool("retrieves-batch", {"batch_id": "missing"})
    assert (result.is_error, _text(result)) == (
        True,
        "upstream answered 404: batch missing not found",
    )


async def test_a_missing_argument_is_refused_naming_the_field_before_any_upstream_call(
    endpoint: str, mode: str, recorder: Recorder
) -> None:
    async with mcp_http(endpoint, mode) as client:
        result = await client.call_tool("retrieves-batch", {})
    assert (result.is_error, _text(result)) == (True, MISSING_BATCH_ID)
    assert recorder.requests == []


async def test_an_unknown_tool_is_a_json_rpc_invalid_params_error(endpoint: str, mode: str) -> None:
    from mcp.shared.exceptions import MCPError

    async with mcp_http(endpoint, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no-such-tool", {})
    assert (raised.value.code, raised.value.message) == (
        INVALID_PARAMS,
        "Unknown tool: no-such-tool",
    )


async def test_upstream_failures_are_readable_error_results(endpoint: str) -> None:
    async with mcp_http(endpoint, "auto") as client:
        texts = {
            batch_id: (result.is_error, _text(result))
            for batch_id in ("boom", "reset", "html")
            for result in [await client.call_tool("retrieves-batch", {"batch_id": batch_id})]
        }
    assert texts == {
        "boom": (True, "upstream answered 500: internal failure"),
        "reset": (True, "upstream 'groq-batch' closed the connection"),
        "html": (True, f"upstream answered json that cannot be parsed: {NOT_JSON}"),
    }


def _bare(gateway: Gateway, method: str, params: dict[str, Any] | None = None) -> Any:
    response = rpc(gateway.url(MCP) + "/", method, params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_a_bare_tools_list_post_to_the_root_gets_a_json_answer(gateway: Gateway) -> None:
    answer = _bare(gateway, "tools/list")
    assert [t["name"] for t in answer["result"]["tools"]] == list(HINTS)


def test_a_bare_tools_call_post_reaches_the_upstream(gateway: Gateway, recorder: Recorder) -> None:
    answer = _bare(
        gateway, "tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": "b1"}}
    )
    assert answer["result"]["structuredContent"] == batch("b1")
    assert json.loads(answer["result"]["content"][0]["text"]) == batch("b1")
    assert [r.headers["Authorization"] for r in recorder.requests] == [f"Bearer {TOKEN}"]


def test_a_bare_call_answering_404_is_an_error_result(gateway: Gateway) -> None:
    answer = _bare(
        gateway, "tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": "missing"}}
    )
    assert answer["result"] == {
        "content": [{"type": "text", "text": "upstream answered 404: batch missing not found"}],
        "isError": True,
    }


def test_a_bare_call_without_its_argument_names_the_field(gateway: Gateway) -> None:
    answer = _bare(gateway, "tools/call", {"name": "retrieves-batch", "arguments": {}})
    assert answer["result"] == {
        "content": [{"type": "text", "text": MISSING_BATCH_ID}],
        "isError": True,
    }


def test_a_bare_call_to_an_unknown_tool_is_error_32602(gateway: Gateway) -> None:
    answer = _bare(gateway, "tools/call", {"name": "nope", "arguments": {}})
    assert answer["error"] == {"code": INVALID_PARAMS, "message": "Unknown tool: nope"}


def test_tool_calls_and_refusals_leave_no_reference_cycles(gateway: Gateway) -> None:
    url = gateway.url(MCP) + "/"
    with naftiko_cycles() as left:
        for batch_id in ("b1", "missing", "boom", "reset"):
            call = {"name": "retrieves-batch", "arguments": {"batch_id": batch_id}}
            rpc(url, "tools/call", call)
        rpc(url, "tools/call", {"name": "retrieves-batch", "arguments": {}})
        rpc(url, "tools/call", {"name": "nope", "arguments": {}})
        rpc(url, "tools/list")
        httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert left == []


def test_a_get_is_refused_as_there_is_no_server_stream(gateway: Gateway) -> None:
    response = httpx.get(gateway.url(MCP) + "/mcp", timeout=10)
    assert (response.status_code, response.headers["allow"]) == (405, "OPTIONS, POST")


def test_the_handshake_reports_the_adapter_description_as_instructions(gateway: Gateway) -> None:
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    }
    result = _bare(gateway, "initialize", init)["result"]
    assert (result["protocolVersion"], result["serverInfo"]["name"]) == ("2025-06-18", MCP)
    assert result["instructions"].startswith("MCP adapter for GroqCloud API")
    assert result["capabilities"] == {"logging": {}, "tools": {"listChanged": False}}


async def test_a_stdio_session_lists_and_calls_tools(
    seed: Path, recorder: Recorder, tmp_path: Path
) -> None:
    """The SDK's own stdio client, starting `naftiko run --stdio` (the 2026-07-28 era)."""
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with mcp_stdio(seed, {"GROQ_API_KEY": TOKEN}, errlog, "auto") as client:
            listed = await client.list_tools()
            result = await client.call_tool("retrieves-batch", {"batch_id": "batch_9"})
        errlog.seek(0)
        logs = errlog.read()
    _listed_and_called(listed, result, recorder, logs)


async def test_a_stdio_session_in_the_handshake_era_lists_and_calls_tools(
    seed: Path, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK client in the legacy mode, its messages framed as its stdio client frames them,
    on the session `naftiko run --stdio` serves (in-process, tests/support/stdio.py)."""
    from mcp import Client

    caplog.set_level(logging.INFO, "naftiko")  # what `naftiko run` logs by default
    session = StdioSession(seed, env={"GROQ_API_KEY": TOKEN})
    try:
        transport = sdk_transport(session)
        async with Client(transport, mode="legacy", cache=None) as client:
            listed = await client.list_tools()
            result = await client.call_tool("retrieves-batch", {"batch_id": "batch_9"})
    finally:
        session.close()
    _listed_and_called(listed, result, recorder, caplog.text)


def _listed_and_called(listed: Any, result: Any, recorder: Recorder, logs: str) -> None:
    assert [t.name for t in listed.tools] == list(HINTS)
    assert result.structured_content == batch("batch_9")
    assert [r.headers["Authorization"] for r in recorder.requests] == [f"Bearer {TOKEN}"]
    assert TOKEN not in logs


async def test_the_token_never_appears_in_results_or_logs(gateway: Gateway, endpoint: str) -> None:
    seen: list[str] = []
    async with mcp_http(endpoint, "legacy") as client:
        seen.append((await client.list_tools()).model_dump_json())
        for batch_id in ("b1", "missing", "boom", "reset", "html"):
            result = await client.call_tool("retrieves-batch", {"batch_id": batch_id})
            seen.append(result.model_dump_json())
        seen.append((await client.call_tool("retrieves-batch", {})).model_dump_json())
    assert [text for text in seen if TOKEN in text] == []
    assert TOKEN not in gateway.logs()
