"""Shutdown answers everyone: requests still running when `--drain-timeout` ends get a 503
(problem+json on REST, a JSON-RPC error on MCP), and an idle gateway exits at once."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.support.faulty import Faulty, limits_gateway
from tests.support.process import Running


def _until(condition: Any, bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def test_requests_running_when_the_drain_ends_are_answered_503(tmp_path: Path) -> None:
    running: Running
    upstream: Faulty
    with limits_gateway(tmp_path, "--drain-timeout", "0.5", "--timeout", "30") as (
        running,
        upstream,
    ):
        rest, mcp = running.url("limits-rest"), running.url("limits-mcp")
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call"}
        call["params"] = {"name": "fault", "arguments": {"fault": "hang", "arg": "x"}}
        with httpx.Client(timeout=30) as client:
            rest_call = _in_background(lambda: client.get(rest + "/f/hang/x"))
            mcp_call = _in_background(
                lambda: client.post(
                    mcp, json=call, headers={"accept": "application/json, text/event-stream"}
                )
            )
            _until(lambda: upstream.attempts["hang"] == 2)
            running.process.send_signal(signal.SIGTERM)
            for thread, _ in (rest_call, mcp_call):
                thread.join(30)
            assert running.process.wait(10) == 0
        rest_answer, mcp_answer = rest_call[1][0], mcp_call[1][0]
    assert rest_answer.status_code == 503
    assert rest_answer.json()["detail"] == "the server is shutting down"
    assert mcp_answer.status_code == 503
    assert mcp_answer.json() == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32000, "message": "the server is shutting down"},
    }
    logs = running.logs()
    assert "Traceback" not in logs
    assert "limits-rest GET /f/hang/x 503" in logs
    assert "limits-mcp POST / 503" in logs


def test_an_idle_gateway_exits_at_once_with_a_stalled_client_connected(tmp_path: Path) -> None:
    with limits_gateway(tmp_path, "--drain-timeout", "30") as (running, _):
        host, port = running.url("limits-rest").removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as stalled:
            stalled.sendall(b"POST /record HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{")
            running.process.send_signal(signal.SIGTERM)
            # Far less than the 30 s drain: nothing was running, only waiting for a body.
            assert running.process.wait(5) == 0
            answer = stalled.recv(65536)
    # Answered 503 when its headers were read before the signal, else simply closed: either
    # way the client is not left waiting.
    if answer:
        assert answer.startswith(b"HTTP/1.1 503")
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["status"] == 503
