"""No caller can exhaust the gateway: header and body timeouts, header and body size limits,
a connection limit, and hostile JSON refused (raw sockets against `naftiko run`)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.faulty import (
    SECRET,
    Faulty,
    faulty_spec,
    open_fds,
    raw_exchange,
    settled_fds,
)
from tests.support.mcp_client import rpc
from tests.support.process import Running
from tests.support.stdio import StdioSession

MAX_BODY = 6 * 1024 * 1024
HELLO = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "limits-test", "version": "1"},
}


@pytest.fixture
def gateway(limits: tuple[Running, Faulty]) -> tuple[Running, Faulty]:
    return limits


@pytest.fixture
def rest(gateway: tuple[Running, Faulty]) -> str:
    gateway[1].bodies.clear()
    return gateway[0].url("limits-rest")


def _status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/problem+json" in head.lower()
    problem: dict[str, Any] = json.loads(body)
    return status, problem


def test_a_connection_that_never_speaks_is_closed(rest: str) -> None:
    assert raw_exchange(rest, b"") == b""


def test_headers_sent_too_slowly_get_a_408_and_the_connection_closes(rest: str) -> None:
    status, problem = _status_and_body(
        raw_exchange(rest, b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    )
    assert status == 408
    assert problem["detail"] == "request headers not received within 0.5 s"


def test_headers_past_the_limit_get_a_431(rest: str) -> None:
    request = b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    answer = raw_exchange(rest, request)  # read until the gateway closes the connection
    status, problem = _status_and_body(answer)
    assert status == 431
    assert problem["detail"] == "request headers are larger than 8192 bytes"
    assert b"\r\nconnection: close\r\n" in answer.lower()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: a\x01b\r\n\r\n",
        b"GET /f/ok/x\x7f HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["control-character-in-a-header", "bad-request-line", "length-and-chunked"],
)
def test_bytes_that_are_not_http_get_a_problem_400_and_never_reach_the_upstream(
    gateway: tuple[Running, Faulty], rest: str, request_bytes: bytes
) -> None:
    answer = raw_exchange(rest, request_bytes)
    status, problem = _status_and_body(answer)
    assert (status, problem["detail"]) == (400, "the request is not valid HTTP/1.1")
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert gateway[1].bodies == []


def test_a_body_that_stalls_gets_a_408(rest: str) -> None:
    request = b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
    status, problem = _status_and_body(raw_exchange(rest, request))
    assert status == 408
    assert problem["detail"] == "request body stalled for 0.5 s"


@pytest.mark.parametrize("namespace", ["limits-rest", "control"])
def test_a_declared_body_past_max_body_is_a_413_on_every_adapter(
    gateway: tuple[Running, Faulty], namespace: str
) -> None:
    request = f"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    status, problem = _status_and_body(raw_exchange(gateway[0].url(namespace), request.encode()))
    assert status == 413
    assert problem["detail"] == f"request body is larger than {MAX_BODY} bytes"


def test_a_chunked_body_past_max_body_is_a_413(rest: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(7):
            yield b"x" * (1024 * 1024)

    with httpx.Client(timeout=20) as client:
        try:
            response = client.post(rest + "/record", content=chunks())
        except httpx.TransportError:
            pytest.fail("the gateway reset the connection instead of answering 413")
    assert response.status_code == 413


def test_an_mcp_body_past_max_body_is_a_json_rpc_error(gateway: tuple[Running, Faulty]) -> None:
    big = {"body": {"pad": "x" * (MAX_BODY + 10)}}
    response = rpc(gateway[0].url("limits-mcp"), "tools/call", {"name": "record", "arguments": big})
    assert response.status_code == 413
    assert response.json()["error"]["message"] == f"request body is larger than {MAX_BODY} bytes"


def test_an_mcp_body_larger_than_the_sdk_default_is_admitted_under_max_body(
    gateway: tuple[Running, Faulty],
) -> None:
    big = {"body": {"pad": "x" * (5 * 1024 * 1024)}}  # the MCP SDK alone stops at 4 MiB
    response = rpc(gateway[0].url("limits-mcp"), "tools/call", {"name": "record", "arguments": big})
    assert response.status_code == 200
    assert response.json()["result"]["isError"] is False
    assert len(gateway[1].bodies[-1]) > 5 * 1024 * 1024


def test_connections_past_the_limit_are_answered_503_and_others_served_after(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    pid = gateway[0].process.pid
    fds = open_fds(pid)
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    held: list[socket.socket] = []
    try:
        # Each speaks as soon as it is open: one left silent would meet the header timeout.
        for _ in range(20):
            held.append(conn := socket.create_connection((host, int(port)), timeout=10))
            conn.sendall(b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        asking = raw_exchange(rest, b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        silent = raw_exchange(rest, b"")  # answered at once, not when it would speak
        assert _status_and_body(asking)[0] == 503
        assert _status_and_body(silent) == (
            503,
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "too many connections; retry later",
            },
        )
    finally:
        for conn in held:
            conn.close()
    assert settled_fds(pid, fds) <= fds
    with httpx.Client(timeout=10) as client:
        assert client.get(rest + "/f/ok/x").status_code == 200


def test_callers_under_the_limit_are_served_while_those_past_it_are_refused(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    # The refused connections, still open, used to count against uvicorn's own limit, so
    # the admitted callers got its text/plain 503 and the upstream never saw them.
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
    extra = [socket.create_connection((host, int(port)), timeout=10) for _ in range(5)]
    try:
        refused = [conn.recv(65536) for conn in extra]
        attempts = gateway[1].attempts["ok"]
        for conn in held:
            conn.sendall(b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answers = [conn.recv(65536) for conn in held]
    finally:
        for conn in held + extra:
            conn.close()
    assert [_status_and_body(a)[0] for a in refused] == [503] * 5
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 20
    assert gateway[1].attempts["ok"] == attempts + 20


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1e999}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": "\\ud800"}',
    ],
    ids=["nan", "infinity", "overflow", "deep", "lone-surrogate"],
)
def test_hostile_json_is_a_400_and_never_reaches_the_upstream(
    gateway: tuple[Running, Faulty], rest: str, body: bytes
) -> None:
    with httpx.Client(timeout=10) as client:
        response = client.post(rest + "/record", content=body)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert gateway[1].bodies == []


def test_numbers_reach_the_upstream_as_written(gateway: tuple[Running, Faulty], rest: str) -> None:
    body = b'{"big": 12345678901234567890.123, "small": 1e-400, "plain": 0.1, "n": 7}'
    with httpx.Client(timeout=10) as client:
        assert client.post(rest + "/record", content=body).status_code == 200
    (sent,) = gateway[1].bodies
    assert sent == b'{"big": 12345678901234567890.123, "small": 1E-400, "plain": 0.1, "n": 7}'


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_hostile_numbers_in_mcp_arguments_are_an_invalid_argument(
    gateway: tuple[Running, Faulty], number: str
) -> None:
    gateway[1].bodies.clear()
    message = (
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":'
        f'{{"name":"record","arguments":{{"body":{{"a":{number}}}}}}}}}'
    )
    with httpx.Client(timeout=10) as client:
        response = client.post(
            gateway[0].url("limits-mcp"),
            content=message,
            headers={"content-type": "application/json", "accept": "application/json"},
        )
    answer = response.json()
    assert gateway[1].bodies == []
    assert answer["result"]["isError"] is True
    assert answer["result"]["content"][0]["text"].startswith("invalid argument 'body'")


def test_an_mcp_stdio_line_past_max_body_is_a_json_rpc_error_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    spec = faulty_spec(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "pad": "x" * 2000}),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": HELLO}),
    ]
    stdio = StdioSession(spec, env={"LIMITS_SECRET": SECRET}, max_body=1000)
    for line in lines:
        stdio.send_line(line)
    too_large, hello = (json.loads(line) for line in stdio.close())
    assert too_large["error"] == {"code": -32600, "message": "request is larger than 1000 bytes"}
    assert hello["result"]["serverInfo"]["name"] == "limits-mcp"


def test_numbers_in_mcp_arguments_reach_the_upstream_as_written(
    gateway: tuple[Running, Faulty],
) -> None:
    gateway[1].bodies.clear()
    message = (
        '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":'
        '{"name":"record","arguments":{"body":{"big":12345678901234567890.123}}}}'
    )
    with httpx.Client(timeout=10) as client:
        response = client.post(
            gateway[0].url("limits-mcp"),
            content=message,
            headers={"content-type": "application/json", "accept": "application/json"},
        )
    assert response.json()["result"]["isError"] is False
    assert gateway[1].bodies == [b'{"big": 12345678901234567890.123}']


def test_an_expect_100_continue_upload_is_told_to_go_on_before_it_sends_its_body(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    body = b'{"n": 1}'
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        interim = conn.recv(65536)  # the body is held back until the server asks for it
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        conn.sendall(body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert gateway[1].bodies[-1] == body


def test_a_head_answer_leaves_at_once_and_the_connection_serves_the_next_request(
    rest: str,
) -> None:
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"HEAD /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(65536)
        conn.sendall(b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert head.startswith(b"HTTP/1.1 200 ")
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_websocket_upgrade_is_refused_and_never_reaches_the_upstream(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    answer = raw_exchange(
        rest,
        b"GET /record HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    # No adapter serves WebSockets: the handshake is declined with 403 (by uvicorn's
    # WebSocket protocol, loaded at the first upgrade), never 101, never passed on as a GET.
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert gateway[1].bodies == []


def test_pipelined_requests_are_answered_whole_and_in_order(rest: str) -> None:
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    ask = b"GET /f/ok/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            ask % 1
            + ask % 2
            + b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert statuses == [b"200", b"200", b"404"], answer


def test_an_http_1_0_request_is_answered_and_its_connection_closed(rest: str) -> None:
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /f/ok/x HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):  # ends: the server closes after the answer
            answer += chunk
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200 ") and b"connection: close" in head


@pytest.mark.parametrize(
    ("target", "status"),
    [(b"evil.example:443", b"400"), (b"/" + b"a" * 70_000, b"414")],
    ids=["authority form", "past 64 KiB"],
)
def test_a_target_that_is_not_a_path_gets_a_problem_and_no_error_is_logged(
    gateway: tuple[Running, Faulty], rest: str, target: bytes, status: bytes
) -> None:
    method = b"CONNECT" if b":" in target else b"GET"
    answer = raw_exchange(rest, method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    assert b"application/problem+json" in answer
    assert "unexpected error" not in gateway[0].logs()


def test_an_h2c_upgrade_is_answered_over_http_1_1_and_the_connection_then_closes(
    rest: str,
) -> None:
    answer = raw_exchange(
        rest,
        b"GET /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")  # never 101: the gateway speaks HTTP/1.1
    assert b"connection: close" in answer.lower()
