"""The MCP core on its own (`adapters/mcp_server.py`): what the transports cannot easily
provoke, a handler failing in a way nobody planned for."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from naftiko.adapters.mcp import jsonrpc_refusal
from naftiko.adapters.mcp_server import Identity, McpServer

IDENTITY = Identity("t", "1", None, None, resources=False, prompts=False)
CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "x"}}


async def _broken(params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("secret detail from deep inside")


@pytest.mark.parametrize("version", ["2025-03-26", "2026-07-28"])
async def test_an_unexpected_fault_is_internal_error_without_details_and_is_logged(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = McpServer(IDENTITY, {"tools/list": _broken, "tools/call": _broken})
    with caplog.at_level(logging.ERROR, logger="naftiko"):
        answer = await server.answer(CALL, version)
    assert answer == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32603, "message": "internal error"},
    }
    assert "secret detail" not in str(answer)
    assert "unexpected error in MCP method tools/call" in caplog.text
    assert "secret detail from deep inside" in caplog.text


def test_a_fault_outside_the_mcp_core_is_internal_error_too() -> None:
    """What the edge answers when the transport itself fails (not a handler): -32603, not the
    -32600 of a request refused for its size or shape."""
    answer = jsonrpc_refusal(500, "internal error", b"")
    assert (answer.status_code, answer.body) == (
        500,
        b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": "internal error"}}',
    )
