"""A hostile OTLP collector on loopback (a raw socket: it answers what no collector would)
cannot grow the gateway, hold its export thread, or fill its log."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from naftiko.engine.telemetry import Telemetry
from naftiko.engine.telemetry_config import TracingConfig

BODY = 64 * 1024 * 1024  # far more than any socket buffer holds


@dataclass
class Collector:
    url: str
    sent: int = 0  # body bytes the collector got onto the wire before the gateway left
    done: threading.Event = field(default_factory=threading.Event)


def _read_head(conn: socket.socket) -> None:
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = conn.recv(65536)
        if not chunk:
            return
        seen += chunk


@contextmanager
def hostile_collector(answer: Callable[[socket.socket, Collector], None]) -> Iterator[Collector]:
    server = socket.create_server(("127.0.0.1", 0))
    collector = Collector(f"http://127.0.0.1:{server.getsockname()[1]}")

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed at the end of the test
            # An OSError: the gateway closed the connection, which is what these tests want.
            with conn, contextlib.suppress(OSError):
                _read_head(conn)
                answer(conn, collector)
            collector.done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        server.close()
        thread.join(10)


def _telemetry(url: str) -> Telemetry:
    return Telemetry(TracingConfig("naftiko-test", 1.0, "w3c", url, False, 10, False))


def _endless_body(conn: socket.socket, collector: Collector) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY)
    chunk = b"\0" * 65536
    while collector.sent < BODY:
        conn.sendall(chunk)
        collector.sent += len(chunk)


def test_a_collector_answering_an_endless_body_is_not_read() -> None:
    with hostile_collector(_endless_body) as collector:
        telemetry = _telemetry(collector.url)
        with telemetry.span("a", {}):
            pass
        assert telemetry.flush()
        assert collector.done.wait(10)
        telemetry.shutdown()
    # Only the head was read: the connection was closed with the body still coming.
    assert collector.sent < BODY


def _long_reason(conn: socket.socket, collector: Collector) -> None:
    conn.sendall(b"HTTP/1.1 400 " + b"R" * 20000 + b"\r\nContent-Length: 0\r\n\r\n")


def test_a_failing_collector_is_reported_once_and_its_reason_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with hostile_collector(_long_reason) as collector:
        telemetry = _telemetry(collector.url)
        for name in ("a", "b", "c"):
            with telemetry.span(name, {}):
                pass
            assert telemetry.flush()
        telemetry.shutdown()
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    # One line for three failed batches, from naftiko; none of the exporter's own.
    ((name, level, message),) = lines
    assert (name, level) == ("naftiko.telemetry", "WARNING")
    assert message.startswith("trace export failed: 1 span(s) dropped since the last report")
    assert "code: 400, reason: RRR" in message
    assert len(message) < 300
