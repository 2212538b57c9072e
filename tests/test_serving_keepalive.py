"""Keep-alive on the serving protocol: an idle connection is closed after --keepalive-timeout,
counted from its last answer, and never while a request on it is still being answered."""

from __future__ import annotations

import socket
from pathlib import Path

from naftiko.settings import Settings
from tests.support.faulty import SECRET, faulty_spec, faulty_upstream
from tests.support.threaded import naftiko_thread


def _answer(conn: socket.socket) -> bytes:
    """One whole answer with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head


def test_an_idle_connection_closes_after_the_keepalive_timeout_but_not_a_busy_one(
    tmp_path: Path,
) -> None:
    settings = Settings(keepalive_timeout=1)
    with faulty_upstream() as upstream, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
        spec = faulty_spec(tmp_path, upstream.url, refused)
        with naftiko_thread(spec, env={"LIMITS_SECRET": SECRET}, settings=settings) as gateway:
            host, port = gateway.url("limits-rest").removeprefix("http://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=20) as conn:
                conn.sendall(b"GET /f/ok/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _answer(conn).startswith(b"HTTP/1.1 200 ")
                # Longer than the keep-alive timeout, on the same connection: still answered.
                conn.sendall(b"GET /f/slow/1200 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _answer(conn).startswith(b"HTTP/1.1 200 ")
                # Then idle: the server closes it (recv sees the end; the bound is a bound).
                assert conn.recv(65536) == b""
