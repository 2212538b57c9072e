"""The MCP wire, pinned: every case of `tests/support/mcp_wire.py` is answered exactly as
recorded in `tests/fixtures/mcp-wire.json` (status, protocol headers, JSON body), in-process,
on the conformance fixture and on the seed (its upstream an in-memory transport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.groq import TOKEN
from tests.support.inprocess import Gateway, serving
from tests.support.mcp_wire import CASES, Case, exchange
from tests.support.specs import REPO
from tests.support.transport import RecordingTransport, Reply

CONFORMANCE = REPO / "tests" / "fixtures" / "specs" / "mcp-conformance.yaml"
SEED = REPO / "examples" / "groq-batch.yaml"
RECORDED = REPO / "tests" / "fixtures" / "mcp-wire.json"


def _batch(seen: Any) -> Reply:
    return Reply.json({"id": "b1", "object": "batch", "status": "completed", "n": 1.5})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway() -> AsyncIterator[Gateway]:
    """One gateway for every case: each case is one request, and none changes state."""
    transport = RecordingTransport(_batch, down=frozenset({"nowhere"}))
    async with serving(CONFORMANCE, SEED, env={"GROQ_API_KEY": TOKEN}, transport=transport) as g:
        yield g


def _recorded() -> dict[str, Any]:
    answers: dict[str, Any] = json.loads(RECORDED.read_text())
    return answers


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_each_mcp_exchange_is_answered_as_recorded(gateway: Gateway, case: Case) -> None:
    async with gateway.client(case.namespace) as client:
        answer = await exchange(client, case)
    assert answer == _recorded()[case.name]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_routing_header_sent_twice_is_a_header_mismatch(gateway: Gateway) -> None:
    case = next(c for c in CASES if c.name == "modern tools/call")
    headers = [*case.headers.items(), ("mcp-method", "tools/call")]
    async with gateway.client(case.namespace) as client:
        response = await client.post("/mcp", content=case.content(), headers=headers)
    assert (response.status_code, response.json()) == (
        400,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "error": {"code": -32020, "message": "mcp-method header appears more than once"},
        },
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_a_lone_surrogate_is_an_answer_never_an_internal_error(gateway: Gateway) -> None:
    """`\\ud800` is valid JSON text but no Unicode: echoed back, it goes escaped; as a
    tool argument, it is an invalid argument naming the field."""
    sent = [
        b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
        b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}',
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"\\ud800"}}',
        b'{"jsonrpc":"2.0","id":4,"method":"tools/call",'
        b'"params":{"name":"retrieves-batch","arguments":{"batch_id":"b\\ud800"}}}',
    ]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    async with gateway.client("groq-batch-mcp") as client:
        answers = [await client.post("/mcp", content=body, headers=headers) for body in sent]
    assert [a.status_code for a in answers] == [200] * 4
    unknown, ping, tool, argument = (a.json() for a in answers)
    assert unknown["error"] == {"code": -32601, "message": "Method not found", "data": "\ud800"}
    assert (ping["id"], ping["result"]) == ("\ud800", {})
    assert tool["error"]["code"] == -32602
    assert argument["result"]["isError"] is True
    text = argument["result"]["content"][0]["text"]
    assert text.startswith("invalid argument 'batch_id': a string holds half of a surrogate")
