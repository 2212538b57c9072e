"""MCP by the 2025-11-25 specification at the JSON-RPC and transport level: envelopes, batches,
error bodies and content types over HTTP and over stdio, on the conformance fixture spec."""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.groq import TOKEN
from tests.support.process import NAFTIKO, READY_TIMEOUT
from tests.support.specs import REPO, seed_for
from tests.support.stdio import StdioSession
from tests.support.threaded import Gateway, naftiko_thread

SPEC = REPO / "tests" / "fixtures" / "specs" / "mcp-conformance.yaml"
INVALID_REQUEST, INVALID_PARAMS, PARSE_ERROR, NOT_FOUND = -32600, -32602, -32700, -32002
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with naftiko_thread(SPEC) as running:
        yield running


@pytest.fixture
def endpoint(gateway: Gateway) -> str:
    return gateway.url("conformance-mcp") + "/mcp"


def _post(endpoint: str, body: Any, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", "accept": "application/json"} | {
        k.replace("_", "-"): v for k, v in headers.items()
    }
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(endpoint, content=content, headers=sent, timeout=10)


def _error(code: int, message: str, id_: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def _json_rpc_answer(response: httpx.Response) -> tuple[int, str, Any]:
    return response.status_code, response.headers.get("content-type", ""), response.json()


# ----------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize("bad_id", [None, 1.5, True, {}, [1]])
def test_a_request_with_an_unusable_id_is_answered_invalid_request(
    endpoint: str, bad_id: Any
) -> None:
    response = _post(endpoint, {"jsonrpc": "2.0", "id": bad_id, "method": "ping"})
    assert _json_rpc_answer(response) == (
        400,
        "application/json",
        _error(INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer'),
    )


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"id": 1, "method": "ping"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, '"method" must be a string'),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]},
            '"params" must be an object',
        ),
        ({"jsonrpc": "2.0", "id": 1}, 'a response has exactly one of "result" and "error"'),
    ],
)
def test_a_malformed_envelope_is_invalid_request_in_one_line_with_its_id(
    endpoint: str, message: dict[str, Any], problem: str
) -> None:
    response = _post(endpoint, message)
    assert _json_rpc_answer(response) == (
        400,
        "application/json",
        _error(INVALID_REQUEST, f"Invalid Request: {problem}", 1),
    )


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"[]", INVALID_REQUEST, "Invalid Request: an empty batch"),
        (b"7", INVALID_REQUEST, "Invalid Request: a message must be a JSON object"),
        (b"{nope", PARSE_ERROR, "Parse error: not JSON"),
    ],
)
def test_a_body_that_is_no_message_is_answered_with_a_json_rpc_error(
    endpoint: str, body: bytes, code: int, message: str
) -> None:
    assert _json_rpc_answer(_post(endpoint, body)) == (
        400,
        "application/json",
        _error(code, message),
    )


def test_a_well_formed_ping_is_still_answered(endpoint: str) -> None:
    assert _json_rpc_answer(_post(endpoint, PING)) == (
        200,
        "application/json",
        {"jsonrpc": "2.0", "id": 1, "result": {}},
    )


# ----------------------------------------------------------------------------- batches


def test_a_batch_without_a_version_header_is_served_as_2025_03_26_in_order(
    endpoint: str,
) -> None:
    batch = [
        PING,
        INITIALIZED,
        {"jsonrpc": "2.0", "id": "two", "method": "prompts/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {}},
        5,
    ]
    status, media, answers = _json_rpc_answer(_post(endpoint, batch))
    assert (status, media) == (200, "application/json")
    assert [a.get("id") for a in answers] == [1, "two", 3, None]
    assert answers[0]["result"] == {}
    assert [p["name"] for p in answers[1]["result"]["prompts"]] == [
        "test_simple_prompt",
        "test_prompt_with_arguments",
    ]
    assert answers[2:] == [
        _error(INVALID_REQUEST, "Invalid Request: initialize cannot be part of a batch", 3),
        _error(INVALID_REQUEST, "Invalid Request: a message must be a JSON object"),
    ]


def test_a_batch_of_notifications_is_accepted_without_content(endpoint: str) -> None:
    response = _post(endpoint, [INITIALIZED, INITIALIZED])
    assert (response.status_code, response.content, "content-type" in response.headers) == (
        202,
        b"",
        False,
    )


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_a_batch_is_refused_under_a_version_without_batches(endpoint: str, version: str) -> None:
    response = _post(endpoint, [PING], mcp_protocol_version=version)
    assert _json_rpc_answer(response) == (
        400,
        "application/json",
        _error(
            INVALID_REQUEST, f"Invalid Request: batches are not part of protocol version {version}"
        ),
    )


# ----------------------------------------------------------------------------- transport errors


def test_a_notification_is_accepted_with_no_content_type(endpoint: str) -> None:
    response = _post(endpoint, INITIALIZED)
    assert (response.status_code, response.content, "content-type" in response.headers) == (
        202,
        b"",
        False,
    )


def test_a_body_that_is_not_declared_json_is_415_with_a_json_rpc_error(endpoint: str) -> None:
    response = _post(endpoint, PING, content_type="text/plain")
    assert _json_rpc_answer(response) == (
        415,
        "application/json",
        _error(INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json"),
    )


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
def test_a_client_that_refuses_json_gets_406_as_a_json_rpc_error(
    endpoint: str, version: str
) -> None:
    response = _post(endpoint, PING, accept="text/html", mcp_protocol_version=version)
    status, media, answer = _json_rpc_answer(response)
    assert (status, media, answer["error"]["code"]) == (406, "application/json", INVALID_REQUEST)
    assert answer["error"]["message"].startswith("Not Acceptable")


# ----------------------------------------------------------------------------- resources


def test_reading_an_unknown_uri_is_resource_not_found(endpoint: str) -> None:
    message = {**PING, "method": "resources/read", "params": {"uri": "test://nope"}}
    answer = _post(endpoint, message).json()
    assert answer["error"] == {
        "code": NOT_FOUND,
        "message": "Unknown resource: test://nope",
        "data": {"uri": "test://nope"},
    }


def test_a_mock_resource_template_renders_its_variables(endpoint: str) -> None:
    message = {**PING, "method": "resources/read", "params": {"uri": "test://template/123/data"}}
    (content,) = _post(endpoint, message).json()["result"]["contents"]
    assert (content["uri"], json.loads(content["text"])) == (
        "test://template/123/data",
        {"id": "123", "data": "Data for ID: 123"},
    )


# ----------------------------------------------------------------------------- stdio


class _Stdio:
    """`naftiko run --stdio` with bounded reads: a missing answer fails, never hangs. The
    process proves the command serves the session on its own stdin/stdout and ends with its
    input; the other session tests run it in-process (tests/support/stdio.py)."""

    def __init__(self, spec: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [NAFTIKO, "run", "--stdio", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def answer(self, message: Any) -> Any:
        self.send(message)
        assert self._selector.select(timeout=READY_TIMEOUT), "no answer on stdout"
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())

    def close(self) -> str:
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        self.process.wait(15)
        self._selector.close()
        assert self.process.stdout is not None
        self.process.stdout.close()
        with self.process.stderr:
            return self.process.stderr.read().decode()


def _initialize(version: str) -> dict[str, Any]:
    client = {"name": "t", "version": "1"}
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": client}
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}


def test_over_stdio_bad_envelopes_are_answered_and_batches_need_2025_03_26() -> None:
    stdio = StdioSession(SPEC)
    try:
        null_id = stdio.answer({"jsonrpc": "2.0", "id": None, "method": "ping"})
        early_batch = stdio.answer([PING])
        version = stdio.answer(_initialize("2025-03-26"))["result"]["protocolVersion"]
        stdio.send(INITIALIZED)
        batch = stdio.answer([PING, INITIALIZED, {"jsonrpc": "2.0", "id": 2}, 5])
        after = stdio.answer({**PING, "id": 3})
    finally:
        stdio.close()
    assert null_id == _error(
        INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer'
    )
    assert early_batch == _error(
        INVALID_REQUEST, "Invalid Request: batches need protocol version 2025-03-26"
    )
    assert version == "2025-03-26"
    # The refusals are known at once, the ping's answer comes from the session: refusals first.
    assert batch == [
        _error(
            INVALID_REQUEST,
            'Invalid Request: a response has exactly one of "result" and "error"',
            2,
        ),
        _error(INVALID_REQUEST, "Invalid Request: a message must be a JSON object"),
        {"jsonrpc": "2.0", "id": 1, "result": {}},
    ]
    assert after == {"jsonrpc": "2.0", "id": 3, "result": {}}


def test_with_stdio_a_spec_serves_its_mcp_adapter_alone_and_opens_no_port(tmp_path: Path) -> None:
    spec = seed_for("http://127.0.0.1:1", tmp_path)
    runtime = build([spec], Settings(stdio=True), {"GROQ_API_KEY": TOKEN})
    assert (runtime.served, [a.plan.namespace for a in runtime.stdio]) == ([], ["groq-batch-mcp"])


def _modern(id_: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": method,
        "params": {**(params or {}), "_meta": meta},
    }


def test_over_stdio_requests_wait_for_the_handshake_and_keep_its_era() -> None:
    stdio = _Stdio(SPEC)
    try:
        early = stdio.answer({**PING, "id": 1, "method": "tools/list"})
        unknown = stdio.answer({**PING, "id": 2, "method": "foo/bar"})
        ping = stdio.answer({**PING, "id": 3})
        stdio.answer(_initialize("2025-11-25"))
        listed = stdio.answer({**PING, "id": 4, "method": "prompts/list"})
        enveloped = stdio.answer(_modern(5, "tools/list"))
    finally:
        stdio.close()
    # Before `initialize`, a method the server has is refused with the SDK's code, saying why.
    assert early["error"] == {
        "code": INVALID_PARAMS,
        "message": "Invalid request parameters: initialize first",
        "data": "initialize first",
    }
    assert unknown["error"] == {"code": -32601, "message": "Method not found", "data": "foo/bar"}
    assert ping == {"jsonrpc": "2.0", "id": 3, "result": {}}
    assert [p["name"] for p in listed["result"]["prompts"]] == [
        "test_simple_prompt",
        "test_prompt_with_arguments",
    ]
    assert enveloped == _error(
        INVALID_REQUEST,
        "this connection serves the handshake protocol era; "
        "requests carrying the 2026-07-28 envelope are not accepted on it",
        5,
    )


def _unread_bytes(pipe: Any) -> int:
    unread: int = struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0" * 4))[0]
    return unread


def test_over_stdio_a_client_that_stops_reading_cannot_keep_sigterm_from_stopping_it(
    tmp_path: Path,
) -> None:
    stdio = _Stdio(seed_for("http://127.0.0.1:9", tmp_path), env={"GROQ_API_KEY": TOKEN})
    try:
        stdio.answer(_initialize("2025-11-25"))
        for number in range(400):  # ~25 KB of requests, ~500 KB of answers: never read
            stdio.send({**PING, "id": 100 + number, "method": "tools/list"})
        assert stdio.process.stdout is not None
        # Until the gateway's stdout is about full (the kernel fills it page by page).
        nearly_full = fcntl.fcntl(stdio.process.stdout.fileno(), fcntl.F_GETPIPE_SZ) * 3 // 4
        deadline = time.monotonic() + READY_TIMEOUT
        while _unread_bytes(stdio.process.stdout) < nearly_full:
            assert time.monotonic() < deadline, "the answers never filled the pipe"
            time.sleep(0.01)
        stdio.process.send_signal(signal.SIGTERM)
        # Its answers wait on the pipe, not its event loop: the signal is handled.
        assert stdio.process.wait(READY_TIMEOUT) == 0
    finally:
        if stdio.process.poll() is None:
            stdio.process.kill()
        stdio.close()


def test_over_stdio_a_first_enveloped_request_opens_the_sessionless_era() -> None:
    stdio = StdioSession(SPEC)
    try:
        listed = stdio.answer(_modern(1, "tools/list"))
        handshake = stdio.answer(_initialize("2025-11-25"))
        bare = stdio.answer({**PING, "id": 2, "method": "tools/list"})
    finally:
        stdio.close()
    result = listed["result"]
    assert (result["resultType"], [t["name"] for t in result["tools"]]) == (
        "complete",
        ["test_simple_text", "test_error_handling"],
    )
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "conformance-mcp"
    assert handshake["error"] == {
        "code": -32022,
        "message": "connection is serving the 2026-07-28 protocol; "
        "the initialize handshake is not accepted",
        "data": {"supported": ["2026-07-28"], "requested": "2025-11-25"},
    }
    assert bare["error"]["code"] == INVALID_PARAMS
    assert bare["error"]["message"].startswith("params._meta must be an object")
