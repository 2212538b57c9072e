"""MCP exchanges as they travel on the wire, for tests that pin them: a request (headers and
body bytes) and the answer reduced to what a client can rely on (status, the headers that
carry meaning, the body as JSON).

The cases cover both protocol eras over HTTP (the 2026-07-28 sessionless requests with their
`_meta` envelope, and the `initialize` handshake eras without a session), every method the
adapter serves, and the refusals of each layer. `tests/fixtures/mcp-wire.json` holds the
answers recorded from the server as it was when the cases were written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx

MODERN = "2026-07-28"
CLIENT = {"name": "wire", "version": "1"}
# Response headers whose value is a fact of the protocol (not of the moment or the request).
KEPT_HEADERS = ("content-type", "mcp-session-id", "mcp-protocol-version", "allow")


@dataclass(frozen=True)
class Case:
    name: str
    body: Any  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    namespace: str = "conformance-mcp"

    def content(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def _request(method: str, params: dict[str, Any] | None = None, id_: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def _initialize(version: Any) -> dict[str, Any]:
    return _request(
        "initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT}
    )


def _modern(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": CLIENT,
    }
    return _request(method, {**(params or {}), "_meta": meta})


def _modern_headers(method: str, name: str | None = None) -> dict[str, str]:
    headers = {"mcp-protocol-version": MODERN, "mcp-method": method}
    return headers | ({"mcp-name": name} if name is not None else {})


_JSON = {"content-type": "application/json", "accept": "application/json"}
_BOTH = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
_SEED = "groq-batch-mcp"
_SIMPLE = {"name": "test_simple_text", "arguments": {}}


def _legacy_cases() -> list[Case]:
    cases = [
        Case("initialize 2025-11-25", _initialize("2025-11-25")),
        Case("initialize 2025-06-18", _initialize("2025-06-18")),
        Case("initialize 2025-03-26", _initialize("2025-03-26")),
        Case("initialize 2024-11-05", _initialize("2024-11-05")),
        Case("initialize of an unknown version", _initialize("1999-01-01")),
        Case("initialize of the sessionless version", _initialize(MODERN)),
        Case("initialize without params", _request("initialize")),
        Case("initialize with a version that is no string", _initialize(7)),
        Case("initialized notification", {"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Case("unknown notification", {"jsonrpc": "2.0", "method": "notifications/whatever"}),
        Case("ping", _request("ping")),
        Case("ping with a string id", _request("ping", id_="abc")),
        Case("tools/list", _request("tools/list")),
        Case("tools/list with a cursor", _request("tools/list", {"cursor": "x"})),
        Case("tools/call", _request("tools/call", _SIMPLE)),
        Case("tools/call failing", _request("tools/call", {"name": "test_error_handling"})),
        Case("tools/call of an unknown tool", _request("tools/call", {"name": "nope"})),
        Case("tools/call without a name", _request("tools/call", {"arguments": {}})),
        Case("tools/call with a name that is no string", _request("tools/call", {"name": 7})),
        Case(
            "tools/call with arguments that are no object",
            _request("tools/call", {"name": "test_simple_text", "arguments": [1]}),
        ),
        Case("tools/call without params", _request("tools/call")),
        Case("resources/list", _request("resources/list")),
        Case("resources/templates/list", _request("resources/templates/list")),
        Case("resources/read text", _request("resources/read", {"uri": "test://static-text"})),
        Case(
            "resources/read binary",
            _request("resources/read", {"uri": "test://static-binary"}),
        ),
        Case(
            "resources/read template",
            _request("resources/read", {"uri": "test://template/7/data"}),
        ),
        Case("resources/read unknown", _request("resources/read", {"uri": "test://nope"})),
        Case("resources/read without a uri", _request("resources/read", {})),
        Case("resources/subscribe", _request("resources/subscribe", {"uri": "test://x"})),
        Case("prompts/list", _request("prompts/list")),
        Case("prompts/get", _request("prompts/get", {"name": "test_simple_prompt"})),
        Case(
            "prompts/get with arguments",
            _request(
                "prompts/get",
                {"name": "test_prompt_with_arguments", "arguments": {"arg1": "a", "arg2": "b"}},
            ),
        ),
        Case(
            "prompts/get missing an argument",
            _request("prompts/get", {"name": "test_prompt_with_arguments"}),
        ),
        Case("prompts/get unknown", _request("prompts/get", {"name": "nope"})),
        Case(
            "prompts/get with arguments that are not strings",
            _request(
                "prompts/get",
                {"name": "test_prompt_with_arguments", "arguments": {"arg1": 1, "arg2": "b"}},
            ),
        ),
        Case("logging/setLevel", _request("logging/setLevel", {"level": "info"})),
        Case(
            "completion/complete",
            _request(
                "completion/complete",
                {
                    "ref": {"type": "ref/prompt", "name": "test_simple_prompt"},
                    "argument": {"name": "a", "value": "b"},
                },
            ),
        ),
        Case("an unknown method", _request("foo/bar")),
        Case("server/discover", _request("server/discover")),
        Case("a response", {"jsonrpc": "2.0", "id": 5, "result": {}}),
        Case(
            "an error response",
            {"jsonrpc": "2.0", "id": 5, "error": {"code": -1, "message": "x"}},
        ),
        Case("seed tools/list", _request("tools/list"), namespace=_SEED),
        Case(
            "seed tools/call",
            _request("tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": "b1"}}),
            namespace=_SEED,
        ),
        Case(
            "seed tools/call without its argument",
            _request("tools/call", {"name": "retrieves-batch", "arguments": {}}),
            namespace=_SEED,
        ),
        Case(
            "seed tools/call with an argument of the wrong type",
            _request("tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": 5}}),
            namespace=_SEED,
        ),
        Case(
            "seed tools/call with an undeclared argument",
            _request(
                "tools/call",
                {"name": "retrieves-batch", "arguments": {"batch_id": "b", "extra": 1}},
            ),
            namespace=_SEED,
        ),
        Case(
            "seed tools/call with an exact decimal",
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":'
            b'"creates-and-executes-batch-uploaded","arguments":{"body":'
            b'{"n":12345678901234567890.123}}}}',
            namespace=_SEED,
        ),
        Case(
            "seed tools/call with NaN",
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":'
            b'"creates-and-executes-batch-uploaded","arguments":{"body":{"n":NaN}}}}',
            namespace=_SEED,
        ),
    ]
    return [Case(c.name, c.body, {**_JSON, **c.headers}, c.namespace) for c in cases]


def _versioned_cases() -> list[Case]:
    """The handshake eras told by the `MCP-Protocol-Version` header, and other headers."""
    cases = []
    for version in ("2025-03-26", "2025-06-18", "2025-11-25", "2030-01-01", MODERN):
        headers = {**_JSON, "mcp-protocol-version": version}
        cases += [
            Case(f"tools/list under {version} header", _request("tools/list"), headers),
            Case(f"tools/call under {version} header", _request("tools/call", _SIMPLE), headers),
            Case(
                f"notification under {version} header",
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers,
            ),
        ]
    cases += [
        Case("tools/call accepting SSE too", _request("tools/call", _SIMPLE), _BOTH),
        Case(
            "tools/call without Accept",
            _request("tools/call", _SIMPLE),
            {"content-type": "application/json"},
        ),
        Case(
            "tools/call accepting only SSE",
            _request("tools/call", _SIMPLE),
            {"content-type": "application/json", "accept": "text/event-stream"},
        ),
        Case(
            "tools/call accepting anything",
            _request("tools/call", _SIMPLE),
            {"content-type": "application/json", "accept": "*/*"},
        ),
        Case(
            "tools/call with a session id",
            _request("tools/call", _SIMPLE),
            {**_JSON, "mcp-session-id": "abc"},
        ),
        Case(
            "tools/call with a charset",
            _request("tools/call", _SIMPLE),
            {"content-type": "application/json; charset=utf-8", "accept": "application/json"},
        ),
    ]
    return cases


def _modern_cases() -> list[Case]:
    both = {**_BOTH}
    call = _modern("tools/call", _SIMPLE)
    return [
        Case("modern tools/list", _modern("tools/list"), both | _modern_headers("tools/list")),
        Case(
            "modern tools/call",
            call,
            both | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern tools/call failing",
            _modern("tools/call", {"name": "test_error_handling"}),
            both | _modern_headers("tools/call", "test_error_handling"),
        ),
        Case(
            "modern tools/call of an unknown tool",
            _modern("tools/call", {"name": "nope"}),
            both | _modern_headers("tools/call", "nope"),
        ),
        Case(
            "modern tools/call with JSON alone accepted",
            call,
            _JSON | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern tools/call with a mismatched Mcp-Name",
            call,
            both | _modern_headers("tools/call", "other"),
        ),
        Case(
            "modern tools/call without Mcp-Method",
            call,
            both | {"mcp-protocol-version": MODERN},
        ),
        Case(
            "modern tools/call with a mismatched Mcp-Method",
            call,
            both | _modern_headers("tools/list", "test_simple_text"),
        ),
        Case(
            "modern tools/call without _meta",
            _request("tools/call", _SIMPLE),
            both | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern tools/call with an unsupported envelope version",
            _request(
                "tools/call",
                {
                    **_SIMPLE,
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2030-01-01",
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                },
            ),
            both | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern tools/call missing client capabilities",
            _request(
                "tools/call",
                {**_SIMPLE, "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}},
            ),
            both | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern server/discover",
            _modern("server/discover"),
            both | _modern_headers("server/discover"),
        ),
        Case("modern ping", _modern("ping"), both | _modern_headers("ping")),
        Case(
            "modern initialize",
            {**_initialize(MODERN), "params": {**_modern("x")["params"]}},
            both | _modern_headers("initialize"),
        ),
        Case(
            "modern resources/list",
            _modern("resources/list"),
            both | _modern_headers("resources/list"),
        ),
        Case(
            "modern resources/templates/list",
            _modern("resources/templates/list"),
            both | _modern_headers("resources/templates/list"),
        ),
        Case(
            "modern resources/read",
            _modern("resources/read", {"uri": "test://static-text"}),
            both | _modern_headers("resources/read", "test://static-text"),
        ),
        Case(
            "modern resources/read unknown",
            _modern("resources/read", {"uri": "test://nope"}),
            both | _modern_headers("resources/read", "test://nope"),
        ),
        Case(
            "modern prompts/list", _modern("prompts/list"), both | _modern_headers("prompts/list")
        ),
        Case(
            "modern prompts/get",
            _modern("prompts/get", {"name": "test_simple_prompt"}),
            both | _modern_headers("prompts/get", "test_simple_prompt"),
        ),
        Case(
            "modern prompts/get missing an argument",
            _modern("prompts/get", {"name": "test_prompt_with_arguments"}),
            both | _modern_headers("prompts/get", "test_prompt_with_arguments"),
        ),
        Case("modern unknown method", _modern("foo/bar"), both | _modern_headers("foo/bar")),
        Case(
            "modern logging/setLevel",
            _modern("logging/setLevel", {"level": "info"}),
            both | _modern_headers("logging/setLevel"),
        ),
        Case(
            "modern notification",
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
            both | {"mcp-protocol-version": MODERN, "mcp-method": "notifications/cancelled"},
        ),
        Case(
            "modern response",
            {"jsonrpc": "2.0", "id": 5, "result": {}},
            both | _modern_headers("ping"),
        ),
        Case(
            "modern subscriptions/listen",
            _modern("subscriptions/listen"),
            both | _modern_headers("subscriptions/listen"),
        ),
        Case(
            "modern subscriptions/listen accepting JSON alone",
            _modern("subscriptions/listen"),
            _JSON | _modern_headers("subscriptions/listen"),
        ),
        Case(
            "modern tools/call with a base64 Mcp-Name",
            call,
            both | _modern_headers("tools/call", "=?base64?dGVzdF9zaW1wbGVfdGV4dA==?="),
        ),
        Case(
            "modern tools/call with a malformed base64 Mcp-Name",
            call,
            both | _modern_headers("tools/call", "=?base64?dGVzdF9zaW1wbGVfdGV4dA=?="),
        ),
        Case(
            "modern tools/call with a wrong version header",
            call,
            both
            | _modern_headers("tools/call", "test_simple_text")
            | {"mcp-protocol-version": "2030-01-01"},
        ),
        Case(
            "modern tools/call accepting only SSE",
            call,
            {"content-type": "application/json", "accept": "text/event-stream"}
            | _modern_headers("tools/call", "test_simple_text"),
        ),
        Case(
            "modern batch",
            [_modern("ping")],
            both | _modern_headers("ping"),
        ),
        Case(
            "modern seed tools/call",
            _modern("tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": "b1"}}),
            both | _modern_headers("tools/call", "retrieves-batch"),
            namespace=_SEED,
        ),
        Case(
            "modern seed tools/call with an argument of the wrong type",
            _modern("tools/call", {"name": "retrieves-batch", "arguments": {"batch_id": 5}}),
            both | _modern_headers("tools/call", "retrieves-batch"),
            namespace=_SEED,
        ),
    ]


CASES: list[Case] = [*_legacy_cases(), *_versioned_cases(), *_modern_cases()]


async def exchange(client: httpx.AsyncClient, case: Case) -> dict[str, Any]:
    """`case` posted to `/mcp`; the answer as status, kept headers and JSON body."""
    response = await client.post("/mcp", content=case.content(), headers=case.headers)
    headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
    body: Any = response.json() if response.content else None
    return {"status": response.status_code, "headers": headers, "body": body}
