"""`serving_request.Request`: how an ASGI answer leaves on the wire. Its head leaves with the
first body bytes (one write, so a head never reaches a client or a balancer alone), the body
is framed by Content-Length or chunks, and an answer that breaks its own framing or headers
ends the connection instead of reaching the client malformed."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from naftiko.serving_request import Connection, Request


class _Wire:
    """The connection a request is answered on; each write would be one system call."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = self
        self.write_paused = False
        self.writes: list[bytes] = []
        self.closed = False
        self.answers = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, data: tuple[bytes, ...]) -> None:
        self.writes.append(b"".join(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    async def drain(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def answered(self, request: Request) -> None:
        self.answers += 1


def _request(wire: _Wire, method: str = "GET", *, keep_alive: bool = True) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": method, "headers": []}
    return Request(cast(Connection, wire), scope, keep_alive, expect_continue=False)


def _app(*messages: dict[str, Any]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    return app


def _start(status: int = 200, **headers: str) -> dict[str, Any]:
    pairs = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http.response.start", "status": status, "headers": pairs}


def _body(body: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def test_a_head_and_its_body_leave_in_one_write() -> None:
    wire = _Wire()
    await _request(wire).run(_app(_start(content_length="2"), _body(b"{}")))
    assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert wire.answers == 1 and not wire.closed


async def test_a_large_body_leaves_in_the_same_write_as_its_head() -> None:
    wire = _Wire()
    body = b"x" * 200_000
    await _request(wire).run(_app(_start(content_length=str(len(body))), _body(body)))
    assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n" + body]


async def test_an_answer_without_a_length_is_chunked_and_ends_with_the_last_chunk() -> None:
    wire = _Wire()
    await _request(wire).run(_app(_start(), _body(b"ab", more=True), _body(b"c")))
    assert wire.writes == [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n",
        b"1\r\nc\r\n0\r\n\r\n",
    ]


async def test_a_head_request_gets_the_head_alone_and_the_connection_stays_open() -> None:
    wire = _Wire()
    await _request(wire, "HEAD").run(_app(_start(content_length="5"), _body(b"hello")))
    assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"]
    assert wire.answers == 1 and not wire.closed


async def test_a_connection_not_kept_alive_says_close_and_closes_after_the_answer() -> None:
    wire = _Wire()
    await _request(wire, keep_alive=False).run(_app(_start(status=204), _body()))
    assert wire.writes == [b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"]
    assert wire.closed


@pytest.mark.parametrize(
    "messages",
    [
        (_start(content_length="5"), _body(b"toolongbody")),
        (_start(content_length="5"), _body(b"abc")),
        (_start(x_bad="a\r\nset-cookie: x=1"), _body(b"")),
    ],
    ids=["longer than its length", "shorter than its length", "control character"],
)
async def test_an_answer_that_breaks_its_framing_or_headers_never_reaches_the_client(
    messages: tuple[dict[str, Any], ...],
) -> None:
    wire = _Wire()
    await _request(wire).run(_app(*messages))
    # Nothing of it was out yet: the client gets a 500 in its place, then the close.
    assert [write[:12] for write in wire.writes] == [b"HTTP/1.1 500"]
    assert b"set-cookie" not in wire.writes[0] and b"toolongbody" not in wire.writes[0]
    assert wire.closed


async def test_an_app_that_fails_before_answering_gets_a_problem_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("bug")

    wire = _Wire()
    await _request(wire).run(broken)
    head, _, body = wire.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"application/problem+json" in head and b'"status": 500' in body
    assert wire.closed


async def test_the_body_arrives_in_pieces_then_the_disconnect_waits_for_the_answer() -> None:
    wire = _Wire()
    request = _request(wire, "POST")
    request.body(b"ab")
    first = await request.receive()
    request.body(b"c")
    request.ended()
    second = await request.receive()
    waiting = asyncio.ensure_future(request.receive())
    await asyncio.sleep(0)  # one turn of the loop (not a wait): the task runs up to its await
    assert not waiting.done()  # nothing to say until the caller leaves or the answer ends
    request.lost()
    assert first == {"type": "http.request", "body": b"ab", "more_body": True}
    assert second == {"type": "http.request", "body": b"c", "more_body": False}
    assert await waiting == {"type": "http.disconnect"}
