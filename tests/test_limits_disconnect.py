"""A caller that goes away before its answer: its request is cancelled at once, the upstream
call abandoned (its connection closed, not held until `--timeout`), its place under
`--max-connections` freed, one access line with 499 and no ERROR. One that stops reading its
answer is dropped after `--send-timeout`, its buffered bytes with it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from naftiko.engine.options import Timeouts
from naftiko.settings import Settings
from tests.support.faulty import SECRET, Faulty, faulty_spec, faulty_upstream
from tests.support.threaded import Gateway, naftiko_thread

BOUND = 20.0  # a bound on waiting, not a timing: the upstream timeout is 60 s


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Faulty]]:
    folder = tmp_path_factory.mktemp("disconnect")
    with faulty_upstream() as upstream, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        spec = faulty_spec(folder, upstream.url, f"http://127.0.0.1:{closed.getsockname()[1]}")
        settings = Settings(timeouts=Timeouts(total=60.0), send_timeout=0.3)
        env = {"LIMITS_SECRET": SECRET}
        with naftiko_thread(spec, env=env, settings=settings) as gateway:
            yield gateway, upstream


def _wait_for(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {condition}"
        time.sleep(0.01)


def _ask_then_leave(url: str, request: bytes, upstream: Faulty) -> None:
    """Send `request`, wait until the upstream has it, then close the connection."""
    before = upstream.attempts["hang"]
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=BOUND) as conn:
        conn.sendall(request)
        _wait_for("the upstream is asked", lambda: upstream.attempts["hang"] > before)


def test_a_caller_that_leaves_cancels_its_upstream_call_at_once(
    served: tuple[Gateway, Faulty],
) -> None:
    gateway, upstream = served
    hung_up = upstream.hung_up
    request = b"GET /f/hang/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    _ask_then_leave(gateway.url("limits-rest"), request, upstream)
    _wait_for("the upstream connection is closed", lambda: upstream.hung_up > hung_up)
    assert "limits-rest GET /f/hang/1 499" in gateway.log_line("GET /f/hang/1 499")
    assert gateway.runtime.drain.running == set()
    assert not [ln for ln in gateway.lines if " ERROR " in ln or "Traceback" in ln]


def test_an_mcp_caller_that_leaves_cancels_its_tool_call(
    served: tuple[Gateway, Faulty],
) -> None:
    gateway, upstream = served
    hung_up = upstream.hung_up
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        b'"params":{"name":"fault","arguments":{"fault":"hang","arg":"2"}}}'
    )
    url = gateway.url("limits-mcp")
    path = urlsplit(url).path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: 2025-06-18\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    _ask_then_leave(url, head.encode() + body, upstream)
    _wait_for("the upstream connection is closed", lambda: upstream.hung_up > hung_up)
    assert "limits-mcp POST" in gateway.log_line(f"POST {path} 499")
    assert not [ln for ln in gateway.lines if " ERROR " in ln or "Traceback" in ln]


def _never_reading(url: str, request: bytes) -> socket.socket:
    parts = urlsplit(url)
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little
    conn.settimeout(BOUND)
    conn.connect((parts.hostname, parts.port))
    conn.sendall(request)
    return conn


def test_a_caller_that_stops_reading_a_streamed_answer_is_dropped_after_the_send_timeout(
    served: tuple[Gateway, Faulty],
) -> None:
    gateway, _ = served
    request = b"GET /f/stream/50000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with _never_reading(gateway.url("limits-rest"), request):
        assert "unread for 0.3 s" in gateway.log_line("left its answer unread", BOUND)
        # Cut mid-answer: the stream from the upstream is abandoned with it.
        assert "GET /f/stream/50000000 200" in gateway.log_line("GET /f/stream/50000000")
    assert gateway.runtime.drain.running == set()


def test_a_caller_that_stops_reading_a_buffered_answer_is_dropped_after_the_send_timeout(
    served: tuple[Gateway, Faulty],
) -> None:
    gateway, _ = served
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        b'"params":{"name":"fault","arguments":{"fault":"stream","arg":"20000000"}}}'
    )
    url = gateway.url("limits-mcp")
    head = (
        f"POST {urlsplit(url).path or '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: 2025-06-18\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    before = sum("left its answer unread" in ln for ln in gateway.lines)
    with _never_reading(url, head.encode() + body):
        _wait_for(
            "the unread answer is dropped",
            lambda: sum("left its answer unread" in ln for ln in gateway.lines) > before,
        )
