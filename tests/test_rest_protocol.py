"""The REST adapter by RFC 9110/9457 on the seed: methods and `Allow`, `Date` and `Host`,
what an upstream's answer keeps on the way back, and request ids and trace context."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx2 as httpx
import pytest

from tests.support.groq import TOKEN
from tests.support.problems import problem_body
from tests.support.servers import Recorded, Recorder
from tests.support.specs import seed_for
from tests.support.threaded import Gateway, naftiko_thread

BATCHES = "/v1/openai/v1/batches"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def gateway(
    groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    spec = seed_for(groq_upstream[0], tmp_path_factory.mktemp("seed"))
    with naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}) as running:
        yield running


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url("groq-batch-rest"), timeout=10) as client:
        yield client


def _raw(gateway: Gateway, request: bytes) -> bytes:
    """One request as written, for what no client library would send."""
    host, port = gateway.url("groq-batch-rest").removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _wait_for_log(gateway: Gateway, text: str) -> None:
    """The process's stderr is read by another thread: wait (bounded) for `text` to arrive."""
    deadline = time.monotonic() + 10
    while text not in gateway.logs():
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{gateway.logs()}"
        time.sleep(0.02)


def _lowered(requests: list[Recorded]) -> dict[str, str]:
    """The headers of the one request the upstream received, by lower-case name."""
    (request,) = requests
    return {name.lower(): value for name, value in request.headers.items()}


# ----------------------------------------------------------------------------- methods


def test_a_wrong_method_is_405_with_an_allow_header(http: httpx.Client) -> None:
    response = http.delete(BATCHES)
    assert problem_body(response, 405)["allow"] == ["GET", "HEAD", "OPTIONS", "POST"]
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_posting_to_the_openapi_document_is_405_not_404(http: httpx.Client) -> None:
    response = http.post("/openapi.json")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD, OPTIONS")


def test_head_answers_like_get_without_a_body(http: httpx.Client, recorder: Recorder) -> None:
    got, head = http.get(f"{BATCHES}/b1"), http.head(f"{BATCHES}/b1")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == got.headers["content-length"]
    assert [r.method for r in recorder.requests] == ["GET", "GET"]


def test_options_lists_the_methods_of_a_path(http: httpx.Client) -> None:
    response = http.options(f"{BATCHES}/b1/cancel")
    assert (response.status_code, response.headers["allow"]) == (204, "OPTIONS, POST")


# ----------------------------------------------------------------------------- Date and Host


def test_every_response_has_a_date(http: httpx.Client) -> None:
    answers = [http.get(f"{BATCHES}/b1"), http.get("/nowhere"), http.post("/openapi.json")]
    assert all(parsedate_to_datetime(a.headers["date"]).tzinfo for a in answers)


@pytest.mark.parametrize(
    "head",
    [b"GET /openapi.json HTTP/1.1\r\n", b"GET /openapi.json HTTP/1.1\r\nHost: a\r\nHost: b\r\n"],
)
def test_a_request_without_exactly_one_host_is_400(gateway: Gateway, head: bytes) -> None:
    answer = _raw(gateway, head + b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"a request needs exactly one Host header" in answer


# ----------------------------------------------------------------------------- upstream answers


def test_an_upstream_problem_keeps_its_media_type(http: httpx.Client) -> None:
    response = http.get(f"{BATCHES}/problem")
    media = response.headers["content-type"].split(";")[0]
    assert (response.status_code, media) == (422, "application/problem+json")
    assert response.json()["type"] == "urn:groq:invalid"


def test_a_plain_text_upstream_error_becomes_a_problem(http: httpx.Client) -> None:
    response = http.get(f"{BATCHES}/text")
    assert problem_body(response, 503) == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "down for maintenance",
    }


def test_allow_listed_upstream_headers_come_back_and_no_others(http: httpx.Client) -> None:
    response = http.get(f"{BATCHES}/limited")
    assert response.status_code == 429
    assert (
        response.headers["retry-after"],
        response.headers["x-ratelimit-remaining-requests"],
    ) == (
        "7",
        "0",
    )
    assert tuple(h for h in ("set-cookie", "server") if h not in response.headers) == (
        "set-cookie",
        "server",
    )


def test_an_upstream_401_to_the_gateways_own_key_is_a_502(
    http: httpx.Client, gateway: Gateway
) -> None:
    response = http.get(f"{BATCHES}/revoked", headers={"Authorization": "Bearer callers-key"})
    assert problem_body(response, 502)["detail"] == (
        "upstream 'groq-batch' refused the gateway's configured credentials (401)"
    )
    _wait_for_log(gateway, "WARNING naftiko: upstream 'groq-batch' refused the configured")


# ----------------------------------------------------------------------------- request ids


def test_a_request_id_and_trace_context_travel_upstream_and_back(
    http: httpx.Client, gateway: Gateway, recorder: Recorder
) -> None:
    sent = {"X-Request-Id": "req-42", "traceparent": TRACEPARENT}
    response = http.get(f"{BATCHES}/b1", headers=sent)
    upstream = _lowered(recorder.requests)
    assert response.headers["x-request-id"] == "req-42"
    assert (upstream["x-request-id"], upstream["traceparent"]) == (
        "req-42",
        TRACEPARENT,
    )
    # The caller's trace id follows the request id in the access line.
    suffix = f" req-42 trace_id={TRACEPARENT[3:35]}"
    _wait_for_log(gateway, suffix)
    (logged,) = [line for line in gateway.logs().splitlines() if line.endswith(suffix)]
    assert f"groq-batch-rest GET {BATCHES}/b1 200 " in logged


def test_without_a_request_id_one_is_made_and_sent_upstream(
    http: httpx.Client, recorder: Recorder
) -> None:
    response = http.get(f"{BATCHES}/b2", headers={"X-Request-Id": "bad id\twith tab"})
    upstream = _lowered(recorder.requests)
    made = response.headers["x-request-id"]
    assert (len(made), upstream["x-request-id"]) == (32, made)
    assert "traceparent" not in upstream
