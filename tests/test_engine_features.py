"""Engine features end to end: `naftiko run` on a spec over a recording upstream."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.echo import ACCESS_TOKEN, echo_app
from tests.support.process import Running, naftiko_run
from tests.support.servers import Recorder, serve_app

SPECS = Path(__file__).parent / "fixtures" / "specs"
ENV = {"ECHO_KEY": "echo key&=/", "API_VERSION": "2026-01"}


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(echo_app(recorder)) as url:
        yield url, recorder


@pytest.fixture(scope="module")
def gateway(
    echo: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("features")
    for name in ("features.yaml", "features-secrets.yaml"):
        shutil.copy(SPECS / name, folder / name)
    env = {**ENV, "UPSTREAM": echo[0]}
    with naftiko_run(folder / "features.yaml", env=env, adapters=1) as running:
        yield running


@pytest.fixture
def http(gateway: Running, echo: tuple[str, Recorder]) -> Iterator[httpx.Client]:
    echo[1].requests.clear()
    with httpx.Client(base_url=gateway.url("features"), timeout=10) as client:
        yield client


def _seen(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_path_query_header_cookie_and_static_parameters_reach_the_upstream(
    http: httpx.Client, echo: tuple[str, Recorder]
) -> None:
    seen = _seen(
        http.get("/items/a b", params={"q": "x&y", "session": "s1"}, headers={"X-Trace": "t1"})
    )
    assert seen["raw_path"] == "/items/a%20b"
    assert seen["headers"]["X-Trace"] == "t1"
    assert seen["headers"]["X-Static"] == "fixed"
    assert seen["headers"]["X-Version"] == "***"  # a bound value echoed back is redacted
    assert echo[1].requests[-1].headers["X-Version"] == "2026-01"
    assert seen["headers"]["Cookie"] == "session=s1"
    assert seen["query"] == "q=x%26y&api_key=echo%20key%26%3D%2F"


def test_a_path_value_cannot_climb_out_of_its_segment(http: httpx.Client) -> None:
    seen = _seen(http.get("/items/..%2F..%2Fadmin"))
    assert seen["raw_path"] == "/items/..%2F..%2Fadmin"


def test_a_header_value_with_a_line_break_is_refused_before_any_upstream_call(
    http: httpx.Client, echo: tuple[str, Recorder]
) -> None:
    response = http.get("/trace", params={"trace": "t1\r\nInjected: 1"})
    assert response.status_code == 400
    assert response.json()["field"] == "X-Trace"
    assert echo[1].requests == []
    assert _seen(http.get("/trace", params={"trace": "t1"}))["headers"]["X-Trace"] == "t1"


def test_a_multipart_body_has_one_part_per_declared_field(http: httpx.Client) -> None:
    seen = _seen(http.post("/upload", json={"note": "hi", "content": "line 1"}))
    content_type = seen["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=")[1]
    assert seen["body"] == (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nline 1\r\n--{boundary}--\r\n"
    )


def test_a_structured_json_body_keeps_list_types(http: httpx.Client) -> None:
    seen = _seen(http.put("/items/1", json={"name": "box", "tags": ["a", "b"]}))
    assert json.loads(seen["body"]) == {"name": "box", "tags": ["a", "b"], "fixed": 1}
    assert seen["headers"]["Content-Type"] == "application/json"


def test_a_body_template_escapes_quotes_in_caller_strings(http: httpx.Client) -> None:
    seen = _seen(http.post("/items", json={"name": 'say "hi"', "count": 3}))
    assert json.loads(seen["body"]) == {"name": 'say "hi"', "count": 3}


def test_a_mistyped_body_field_is_refused_before_any_upstream_call(
    http: httpx.Client, echo: tuple[str, Recorder]
) -> None:
    response = http.post("/items", json={"name": "box", "count": "many"})
    assert response.status_code == 400
    assert response.json()["field"] == "count"
    assert echo[1].requests == []


def test_a_form_body_is_url_encoded(http: httpx.Client) -> None:
    seen = _seen(http.patch("/items", json={"name": "a b"}))
    assert seen["body"] == "name=a+b&kind=plain"
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_outputs_are_projected_and_typed(http: httpx.Client) -> None:
    assert _seen(http.get("/shaped/9")) == {
        "id": 7,
        "price": 12.5,
        "active": True,
        "path": "/items/9",
        "names": ["x", "y"],
        "rows": [{"ident": "1"}, {"ident": "2"}],
    }


def test_xml_responses_are_mapped_like_json(http: httpx.Client) -> None:
    assert _seen(http.get("/xml")) == [{"imo": "1", "tonnage": 500}, {"imo": "2", "tonnage": 900}]


def test_csv_responses_become_row_objects(http: httpx.Client) -> None:
    assert _seen(http.get("/csv")) == [
        {"imo": "1", "name": "Aurora"},
        {"imo": "2", "name": "Borealis"},
    ]


def test_basic_credentials_come_from_a_secrets_file(http: httpx.Client) -> None:
    assert _seen(http.get("/basic"))["method"] == "GET"


def test_digest_credentials_answer_the_challenge(http: httpx.Client) -> None:
    assert _seen(http.get("/digest"))["method"] == "GET"


def test_oauth2_client_credentials_are_fetched_once_and_reused(
    http: httpx.Client, echo: tuple[str, Recorder]
) -> None:
    first = _seen(http.get("/oauth"))
    _seen(http.get("/oauth"))
    assert first["headers"]["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    token_calls = [r for r in echo[1].requests if r.path == "/oauth/token"]
    assert len(token_calls) <= 1


def test_mock_operations_answer_without_an_upstream(
    http: httpx.Client, echo: tuple[str, Recorder]
) -> None:
    assert _seen(http.get("/mock/ada")) == {"greeting": "hello ada", "answer": 42}
    assert echo[1].requests == []


def test_forward_resources_pass_method_path_query_body_and_trusted_headers_only(
    http: httpx.Client,
) -> None:
    response = http.post(
        "/proxy/a/b%20c",
        params={"x": "1"},
        content=b"raw-bytes",
        headers={"X-Trusted": "yes", "X-Other": "no", "Authorization": "Bearer caller"},
    )
    seen = _seen(response)
    assert (seen["method"], seen["raw_path"], seen["body"]) == ("POST", "/a/b%20c", "raw-bytes")
    assert seen["query"] == "x=1&api_key=echo%20key%26%3D%2F"
    assert seen["headers"]["X-Trusted"] == "yes"
    assert "X-Other" not in seen["headers"]
    assert "Authorization" not in seen["headers"]
