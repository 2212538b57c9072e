"""Engine features through the REST adapter, in-process over the recording transport: what
each upstream would have received, credentials and all (the real socket path is
tests/test_limits_upstream.py's and the adapters' end-to-end tests')."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.echo import ACCESS_TOKEN, answer
from tests.support.inprocess import serving
from tests.support.transport import AUTHORITY, RecordingTransport

SPECS = Path(__file__).parent / "fixtures" / "specs"
ENV = {"ECHO_KEY": "echo key&=/", "API_VERSION": "2026-01", "UPSTREAM": "http://echo.test"}


@pytest.fixture
def echo() -> RecordingTransport:
    return RecordingTransport(answer)


@pytest.fixture
async def http(echo: RecordingTransport, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    for name in ("features.yaml", "features-secrets.yaml"):
        shutil.copy(SPECS / name, tmp_path / name)
    spec = tmp_path / "features.yaml"
    async with serving(spec, env=ENV, transport=echo) as gateway, gateway.client("features") as c:
        yield c


def _seen(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_path_query_header_cookie_and_static_parameters_reach_the_upstream(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    seen = _seen(
        await http.get(
            "/items/a b", params={"q": "x&y", "session": "s1"}, headers={"X-Trace": "t1"}
        )
    )
    assert seen["raw_path"] == "/items/a%20b"
    assert seen["headers"]["X-Trace"] == "t1"
    assert seen["headers"]["X-Static"] == "fixed"
    assert seen["headers"]["X-Version"] == "***"  # a bound value echoed back is redacted
    assert echo.requests[-1].headers["X-Version"] == "2026-01"
    assert seen["headers"]["Cookie"] == "session=s1"
    assert echo.requests[-1].query == "q=x%26y&api_key=echo%20key%26%3D%2F"
    assert seen["query"] == "q=x%26y&api_key=***"  # the bound key, echoed percent-encoded


async def test_a_header_value_past_ascii_reaches_the_upstream_as_the_caller_wrote_it(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    await http.get("/items/a", headers={b"X-Trace": "café ☃".encode()})
    await http.get("/items/b", headers={b"X-Trace": b"caf\xe9"})  # latin-1: read as latin-1
    await http.get("/proxy/x", headers={b"X-Trusted": "café ☃".encode()})
    assert [r.headers["X-Trace"] for r in echo.requests[:2]] == ["café ☃", "café"]
    assert echo.requests[2].headers["X-Trusted"] == "café ☃"


async def test_a_path_value_cannot_climb_out_of_its_segment(http: httpx.AsyncClient) -> None:
    seen = _seen(await http.get("/items/..%2F..%2Fadmin"))
    assert seen["raw_path"] == "/items/..%2F..%2Fadmin"


async def test_a_header_value_with_a_line_break_is_refused_before_any_upstream_call(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    response = await http.get("/trace", params={"trace": "t1\r\nInjected: 1"})
    assert response.status_code == 400
    assert response.json()["field"] == "X-Trace"
    assert echo.requests == []
    assert _seen(await http.get("/trace", params={"trace": "t1"}))["headers"]["X-Trace"] == "t1"


@pytest.mark.parametrize("value", ["t\x00 1", "t\x7f1", "t\x1b[2J"])
async def test_a_header_value_with_a_control_character_is_refused_naming_the_header(
    http: httpx.AsyncClient, echo: RecordingTransport, value: str
) -> None:
    # The HTTP client would refuse NUL and DEL itself, as an internal error (500 / -32603).
    response = await http.get("/trace", params={"trace": value})
    assert (response.status_code, response.json()["field"]) == (400, "X-Trace")
    assert response.json()["detail"] == "X-Trace: header values cannot contain control characters"
    assert echo.requests == []
    tabbed = await http.get("/trace", params={"trace": "t\t1"})
    assert _seen(tabbed)["headers"]["X-Trace"] == "t\t1"


async def test_a_multipart_body_has_one_part_per_declared_field(http: httpx.AsyncClient) -> None:
    seen = _seen(await http.post("/upload", json={"note": "hi", "content": "line 1"}))
    content_type = seen["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=")[1]
    assert seen["body"] == (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nline 1\r\n--{boundary}--\r\n"
    )


async def test_a_structured_json_body_keeps_list_types(http: httpx.AsyncClient) -> None:
    seen = _seen(await http.put("/items/1", json={"name": "box", "tags": ["a", "b"]}))
    assert json.loads(seen["body"]) == {"name": "box", "tags": ["a", "b"], "fixed": 1}
    assert seen["headers"]["Content-Type"] == "application/json"


async def test_a_body_template_escapes_quotes_in_caller_strings(http: httpx.AsyncClient) -> None:
    seen = _seen(await http.post("/items", json={"name": 'say "hi"', "count": 3}))
    assert json.loads(seen["body"]) == {"name": 'say "hi"', "count": 3}


async def test_a_mistyped_body_field_is_refused_before_any_upstream_call(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    response = await http.post("/items", json={"name": "box", "count": "many"})
    assert response.status_code == 400
    assert response.json()["field"] == "count"
    assert echo.requests == []


async def test_a_form_body_is_url_encoded(http: httpx.AsyncClient) -> None:
    seen = _seen(await http.patch("/items", json={"name": "a b"}))
    assert seen["body"] == "name=a+b&kind=plain"
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


async def test_outputs_are_projected_and_typed(http: httpx.AsyncClient) -> None:
    assert _seen(await http.get("/shaped/9")) == {
        "id": 7,
        "price": 12.5,
        "active": True,
        "path": "/items/9",
        "names": ["x", "y"],
        "rows": [{"ident": "1"}, {"ident": "2"}],
    }


async def test_xml_responses_are_mapped_like_json(http: httpx.AsyncClient) -> None:
    assert _seen(await http.get("/xml")) == [
        {"imo": "1", "tonnage": 500},
        {"imo": "2", "tonnage": 900},
    ]


async def test_csv_responses_become_row_objects(http: httpx.AsyncClient) -> None:
    assert _seen(await http.get("/csv")) == [
        {"imo": "1", "name": "Aurora"},
        {"imo": "2", "name": "Borealis"},
    ]


async def test_basic_credentials_come_from_a_secrets_file(http: httpx.AsyncClient) -> None:
    assert _seen(await http.get("/basic"))["method"] == "GET"


async def test_digest_credentials_answer_the_challenge(http: httpx.AsyncClient) -> None:
    assert _seen(await http.get("/digest"))["method"] == "GET"


async def test_oauth2_client_credentials_are_fetched_once_reused_and_never_echoed_back(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    first = _seen(await http.get("/oauth"))
    _seen(await http.get("/oauth"))
    calls = [r for r in echo.requests if r.path.startswith("/oauth/api/")]
    assert [r.headers["Authorization"] for r in calls] == [f"Bearer {ACCESS_TOKEN}"] * 2
    # The upstream echoed its Authorization header: the caller gets the token masked, as a
    # bound key would be, though the token was only known once fetched.
    assert first["headers"]["Authorization"] == "Bearer ***"
    token_calls = [r for r in echo.requests if r.path == "/oauth/token"]
    # Fetched once, through the authorization-server client (no namespace's credentials).
    assert [r.namespace for r in token_calls] == [AUTHORITY]
    assert "Authorization" not in token_calls[0].headers


async def test_mock_operations_answer_without_an_upstream(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    assert _seen(await http.get("/mock/ada")) == {"greeting": "hello ada", "answer": 42}
    assert echo.requests == []


async def test_forward_resources_pass_method_path_query_body_and_trusted_headers_only(
    http: httpx.AsyncClient, echo: RecordingTransport
) -> None:
    response = await http.post(
        # The API key's own parameter is the configuration's: a caller's copy is dropped.
        "/proxy/a/b%20c?x=1&api_key=caller-key&api%5Fkey=also",
        content=b"raw-bytes",
        headers={"X-Trusted": "yes", "X-Other": "no", "Authorization": "Bearer caller"},
    )
    seen = _seen(response)
    assert (seen["method"], seen["raw_path"], seen["body"]) == ("POST", "/a/b%20c", "raw-bytes")
    assert echo.requests[-1].query == "x=1&api_key=echo%20key%26%3D%2F"
    assert seen["query"] == "x=1&api_key=***"  # the bound key, echoed percent-encoded
    assert seen["headers"]["X-Trusted"] == "yes"
    assert "X-Other" not in seen["headers"]
    assert "Authorization" not in seen["headers"]
