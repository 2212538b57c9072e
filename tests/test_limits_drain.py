"""Shutdown answers everyone: requests still running when `--drain-timeout` ends get a 503
(problem+json on REST, a JSON-RPC error on MCP); an upload still waiting for its body gets
it at once. (How fast an idle gateway exits is measured in bench/limits.py.)"""

from __future__ import annotations

import json
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.support.faulty import Faulty, limits_gateway
from tests.support.process import Running, until


def _in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def test_at_shutdown_uploads_waiting_and_requests_still_running_are_answered_503(
    tmp_path: Path,
) -> None:
    running: Running
    upstream: Faulty
    flags = ("--drain-timeout", "0.5", "--timeout", "30")
    with limits_gateway(tmp_path, *flags) as (running, upstream):
        rest, mcp = running.url("limits-rest"), running.url("limits-mcp")
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call"}
        call["params"] = {"name": "fault", "arguments": {"fault": "hang", "arg": "x"}}
        host, port = rest.removeprefix("http://").rsplit(":", 1)
        with (
            httpx.Client(timeout=30) as client,
            socket.create_connection((host, int(port))) as stalled,
        ):
            stalled.sendall(
                b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{"
            )
            rest_call = _in_background(lambda: client.get(rest + "/f/hang/x"))
            mcp_call = _in_background(
                lambda: client.post(
                    mcp, json=call, headers={"accept": "application/json, text/event-stream"}
                )
            )
            until(lambda: upstream.attempts["hang"] == 2, bound=10.0, every=0.02)
            running.process.send_signal(signal.SIGTERM)
            for thread, _ in (rest_call, mcp_call):
                thread.join(30)
            upload_answer = stalled.recv(65536)
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
    # The stalled upload was begun before the hanging calls, so its headers were read: it
    # is answered at once, without waiting for the drain.
    assert upload_answer.startswith(b"HTTP/1.1 503")
    assert json.loads(upload_answer.partition(b"\r\n\r\n")[2])["status"] == 503
    logs = running.logs()
    assert "Traceback" not in logs
    assert "limits-rest GET /f/hang/x 503" in logs
    assert "limits-rest POST /record 503" in logs
    assert "limits-mcp POST / 503" in logs
