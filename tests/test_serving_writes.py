"""`serving._Coalescing`: an answer's head leaves with the write that follows it, so a head
never reaches a client (or a balancer) alone; an interim 1xx leaves at once."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from naftiko.serving import _Coalescing


class _Wire:
    """A transport that records each write (each would be one system call)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> None:
        return None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _coalescing() -> tuple[_Coalescing, _Wire]:
    """A connection whose request headers are in: its answer's head is next."""
    wire = _Wire()
    transport = _Coalescing(cast(asyncio.Transport, cast(Any, wire)))
    transport.head_next = True
    return transport, wire


def test_a_head_and_its_body_leave_in_one_write() -> None:
    transport, wire = _coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert wire.writes == []
    transport.write(b"{}")
    assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_an_interim_100_continue_leaves_at_once() -> None:
    transport, wire = _coalescing()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert wire.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_a_head_without_a_body_leaves_when_flushed_or_closed() -> None:
    transport, wire = _coalescing()
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.flush()
    transport.head_next = True
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.close()
    assert wire.writes == [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"]
    assert wire.closed


def test_a_body_chunk_that_starts_like_a_status_line_is_not_held_back() -> None:
    transport, wire = _coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    transport.write(b"b\r\nHTTP/1.1 20\r\n")
    transport.write(b"HTTP/1.1 200 OK, said the log")  # no request waits for a head now
    assert wire.writes[1:] == [b"HTTP/1.1 200 OK, said the log"]
