"""MCP clients for tests: the SDK's own client over HTTP or stdio, and bare JSON-RPC POSTs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx2 as httpx

from tests.support.process import NAFTIKO

if TYPE_CHECKING:
    from mcp import Client

# JSON-RPC 2.0 §5.1's "Invalid params" (mcp_types.INVALID_PARAMS), without importing the SDK.
INVALID_PARAMS = -32602
MODES = ("legacy", "auto")  # the initialize handshake, and discover → 2026-07-28 sessionless


@asynccontextmanager
async def mcp_http(
    url: str, mode: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK client on `url` in `mode`, sending `headers` with every request."""
    # The SDK is imported when a test uses it (~0.5 s), not by every test worker's collection.
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx.AsyncClient(headers=dict(headers or {}), timeout=10) as http:
        transport = streamable_http_client(url, http_client=http)
        # No response cache: each test call must reach the server.
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


@asynccontextmanager
async def mcp_stdio(
    spec: Path, env: Mapping[str, str], errlog: TextIO, mode: str = "auto"
) -> AsyncIterator[Client]:
    """`naftiko run --stdio spec` driven by the SDK's stdio client; its stderr goes to `errlog`."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=NAFTIKO, args=["run", "--stdio", str(spec)], env=dict(env)
    )
    async with Client(stdio_client(params, errlog=errlog), mode=mode, cache=None) as client:
        yield client


def rpc(
    url: str,
    method: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One bare JSON-RPC request: only a Content-Type (no Accept, no handshake, no session)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = dict(params)
    with httpx.Client(timeout=10) as http:
        del http.headers["accept"]
        sent = {"Content-Type": "application/json", **(headers or {})}
        return http.post(url, content=json.dumps(message), headers=sent)
