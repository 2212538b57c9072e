"""What the HTTP/1.1 connection (`serving.py`) does with requests real clients rarely send and
hostile ones do: a bad request pipelined after good ones, trailer fields, absolute-form
targets, HTTP/1.0 clients (raw sockets against `naftiko run`)."""

from __future__ import annotations

import re
import socket

import pytest

from tests.support.faulty import Faulty, raw_exchange
from tests.support.process import Running

OK = b"GET /f/ok/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b'{"n": 1}'
CHUNKED_POST = (
    b"POST /record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n" % (len(BODY), BODY)
)


@pytest.fixture
def gateway(limits: tuple[Running, Faulty]) -> tuple[Running, Faulty]:
    limits[1].bodies.clear()
    return limits


@pytest.fixture
def rest(gateway: tuple[Running, Faulty]) -> str:
    return gateway[0].url("limits-rest")


def _statuses(answer: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)


@pytest.mark.parametrize(
    "bad",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\x00\r\n\r\n",
        b"GET http://a?x HTTP/9\r\n",
    ],
    ids=["not http", "nul in a header", "bad version"],
)
def test_a_bad_request_pipelined_after_good_ones_is_refused_after_their_answers(
    gateway: tuple[Running, Faulty], rest: str, bad: bytes
) -> None:
    # One write: the bad request is parsed while the good ones are still being answered.
    answer = raw_exchange(rest, OK % 1 + OK % 2 + bad)
    assert _statuses(answer) == [b"200", b"200", b"400"], answer
    first, second, refused = answer.split(b"HTTP/1.1 ")[1:]
    assert first.endswith(b'{"ok":true}') and second.endswith(b'{"ok":true}')
    assert refused.endswith(b'"detail": "the request is not valid HTTP/1.1"}')
    assert "unexpected error" not in gateway[0].logs()


def test_a_trailer_field_never_joins_the_headers_the_request_was_admitted_with(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    # A second Host (or an Authorization) in the trailers would be seen by whatever reads the
    # headers after the body arrived: trailers are dropped, the request is served as sent.
    answer = raw_exchange(
        rest,
        CHUNKED_POST + b"Host: evil.example\r\nAuthorization: Bearer stolen\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert gateway[1].bodies == [BODY]


def test_trailers_past_the_header_limit_are_a_431(rest: str) -> None:
    # llhttp holds a trailer field whole until it ends: bounded like headers, not by memory.
    # More than one read (256 KiB) of it, sent whole: the refusal lingers, so it is read.
    answer = raw_exchange(rest, CHUNKED_POST + b"X-Trailer: " + b"a" * 300_000)
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert b"request trailers are larger than 8192 bytes" in answer


def test_a_request_whose_own_chunked_body_breaks_gets_a_400_and_ends_without_an_error(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    # Its app is already running when the parse fails (here it answers 405 without reading
    # the body): it learns the caller is gone, and never writes after the 400.
    broken = CHUNKED_POST.rpartition(b"0\r\n")[0] + b"zz\r\n"
    answer = raw_exchange(rest, broken.replace(b"/record", b"/f/ok/x"))
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"not valid HTTP/1.1" in answer
    # A request after it, through the upstream, ends long after it would have failed.
    raw_exchange(rest, b"GET /f/ok/after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    gateway[0].stderr_line("limits-rest GET /f/ok/after ")
    assert "unexpected error" not in gateway[0].logs()


def test_a_body_in_a_transfer_coding_besides_chunked_is_a_501_never_passed_on(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    coded = CHUNKED_POST.replace(b"chunked", b"gzip, chunked") + b"\r\n"
    answer = raw_exchange(rest, coded)
    assert answer.startswith(b"HTTP/1.1 501 "), answer
    assert b"no transfer coding but chunked is supported" in answer
    assert gateway[1].bodies == []


@pytest.mark.parametrize("target", [b"http://127.0.0.1", b"http://127.0.0.1?x=1"])
def test_an_absolute_form_target_without_a_path_is_the_root_and_logs_no_error(
    gateway: tuple[Running, Faulty], rest: str, target: bytes
) -> None:
    answer = raw_exchange(
        rest, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 404 "), answer  # no operation on `/`
    assert "unexpected error" not in gateway[0].logs()


def test_an_http_1_0_client_gets_a_streamed_answer_unchunked_until_the_connection_closes(
    rest: str,
) -> None:
    answer = raw_exchange(rest, b"GET /f/stream/4000 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()  # HTTP/1.0 has no chunked coding
    assert body == b"[0" + b",0" * 2000 + b"]"


def test_an_http_1_0_expect_100_continue_is_ignored(
    gateway: tuple[Running, Faulty], rest: str
) -> None:
    answer = raw_exchange(
        rest,
        b"POST /record HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    )
    assert _statuses(answer) == [b"200"], answer  # no interim 100 to a 1.0 client
    assert gateway[1].bodies == [BODY]


def test_an_expect_100_continue_request_answered_before_its_body_closes_the_connection(
    rest: str,
) -> None:
    # The client waits for a 100 that never comes (GET only here: 405): had the connection
    # stayed open, its next request would have been read as the body it never sent.
    answer = raw_exchange(  # read until the server closes the connection
        rest,
        b"POST /f/ok/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert b"connection: close" in answer.lower()


@pytest.mark.parametrize("framing", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_a_websocket_upgrade_announcing_a_body_is_refused_not_held_open(
    gateway: tuple[Running, Faulty], rest: str, framing: bytes
) -> None:
    answer = raw_exchange(
        rest,
        b"GET /record HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + framing + b"\r\n\r\nhello",
        bound=5,  # without an answer, the connection was held until the client gave up
    )
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert gateway[1].bodies == []


def test_an_http_1_0_client_that_asks_to_keep_the_connection_is_served_on_it(rest: str) -> None:
    # `ab -k` and old proxies: HTTP/1.0 with Connection: keep-alive, told it is kept.
    ask = b"GET /f/ok/%d HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
    host, port = rest.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(ask % 1)
        first = b""
        while b"\r\n\r\n" not in first:
            first += conn.recv(65536)
        conn.sendall(b"GET /f/ok/2 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")  # this one closes
        rest_of_it = b""
        while chunk := conn.recv(65536):
            rest_of_it += chunk
    assert first.startswith(b"HTTP/1.1 200 ")
    assert b"connection: keep-alive" in first.lower()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", first + rest_of_it) == [b"200", b"200"]


def test_an_http_1_0_keep_alive_ends_with_an_answer_of_unknown_length(rest: str) -> None:
    answer = raw_exchange(  # read until the server closes: the body ends there
        rest, b"GET /f/stream/4000 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
    )
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in head and b"transfer-encoding" not in head
