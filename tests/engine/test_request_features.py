"""Request building: arrays by location, JSON bodies always valid, forward's fixed headers,
AWS SigV4, hints from aggregate semantics — asserted on what a loopback upstream received."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naftiko.engine.aws_sigv4 import AwsCredentials, sign
from naftiko.errors import SpecError
from tests.support.engine_harness import gateway, plan_for, scripted_app, tool_spec, write_spec
from tests.support.servers import Recorder, serve_app
from tests.support.transport import Upstream, recording_upstream, scripted


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return recording_upstream(scripted({}))


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[str, Recorder]]:
    """A real socket, where the whole signed request (as aiohttp sends it) must verify."""
    recorder = Recorder()
    with serve_app(scripted_app(recorder, {})) as url:
        yield url, recorder


@pytest.fixture
def seen(upstream: Upstream) -> Recorder:
    upstream[1].requests.clear()
    return upstream[1]


def _arg(name: str, kind: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "type": kind, "required": required}


async def test_array_arguments_explode_in_the_query_and_are_comma_lists_in_headers_and_cookies(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    op = {
        "name": "op",
        "method": "GET",
        "inputParameters": [
            {"name": "$select", "in": "query", "value": "{{fields}}"},
            {"name": "X-Tags", "in": "header", "value": "{{fields}}"},
            {"name": "c", "in": "cookie", "value": "{{fields}}"},
        ],
    }
    tool = {"inputParameters": [_arg("fields", "array", True)]}
    async with gateway(tool_spec(tmp_path, upstream[0], op, tool), transport=upstream[2]) as gw:
        await gw.call(gw.tool("t"), {"fields": ["id", "to pic"]})
    (request,) = seen.requests
    assert request.query == "%24select=id&%24select=to%20pic"
    assert request.headers["X-Tags"] == "id,to pic"
    assert request.headers["Cookie"] == "c=id,to%20pic"


async def test_a_json_body_template_with_optional_values_left_out_is_still_valid_json(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    op = {
        "name": "op",
        "method": "POST",
        "body": '{"crewIds": {{crewIds}}, "cargoIds": {{cargoIds}}, "note": "{{note}}",'
        ' "all": [{{crewIds}}], "title": "Voyage {{note}}"}',
    }
    tool = {"inputParameters": [_arg("crewIds", "array"), _arg("cargoIds", "array"), _arg("note")]}
    async with gateway(tool_spec(tmp_path, upstream[0], op, tool), transport=upstream[2]) as gw:
        await gw.call(gw.tool("t"), {"crewIds": [1, 2]})
        await gw.call(gw.tool("t"), {"note": 'say "hi"', "cargoIds": "[3]"})
    first, second = (json.loads(r.body) for r in seen.requests)
    assert first == {"crewIds": [1, 2], "all": [[1, 2]], "title": "Voyage "}
    assert second == {
        "cargoIds": [3],
        "note": 'say "hi"',
        "all": [None],
        "title": 'Voyage say "hi"',
    }


async def test_a_structured_json_body_omits_members_the_caller_left_out(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    op = {
        "name": "op",
        "method": "POST",
        "body": {"type": "json", "data": {"a": "{{a}}", "b": "{{b}}", "fixed": 1}},
    }
    tool = {"inputParameters": [_arg("a"), _arg("b", "integer")]}
    async with gateway(tool_spec(tmp_path, upstream[0], op, tool), transport=upstream[2]) as gw:
        await gw.call(gw.tool("t"), {"b": 2})
    assert json.loads(seen.requests[0].body) == {"b": 2, "fixed": 1}


async def test_forwarded_requests_carry_the_namespace_fixed_headers(
    upstream: Upstream, seen: Recorder, tmp_path: Path
) -> None:
    op = {"name": "op", "method": "GET"}
    headers = [
        {"name": "X-API-Version", "in": "header", "value": "2026-01"},
        {"name": "X-Key", "in": "header", "value": "{{KEY}}"},
    ]
    spec = tool_spec(tmp_path, upstream[0], op, {}, inputParameters=headers)
    async with gateway(spec, {"KEY": "k-123"}, transport=upstream[2]) as gw:
        result = await gw.engine.forward("up", "GET", "a/b", "q=1", {"X-Trace": "t"}, b"")
    assert result.status == 200
    (request,) = seen.requests
    assert (request.path, request.query) == ("/a/b", "q=1")
    assert request.headers["X-API-Version"] == "2026-01"
    assert request.headers["X-Key"] == "k-123"
    assert request.headers["X-Trace"] == "t"


# ------------------------------------------------------------------ AWS SigV4

VECTOR = AwsCredentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"
)
WHEN = dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("url", "headers", "service", "signed", "signature"),
    [
        (
            "https://example.amazonaws.com/",
            {},
            "service",
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            {},
            "service",
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            "iam",
            "content-type;host;x-amz-date",
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        ),
    ],
)
def test_sigv4_matches_the_aws_documented_test_vectors(
    url: str, headers: dict[str, str], service: str, signed: str, signature: str
) -> None:
    credentials = AwsCredentials(VECTOR.access_key, VECTOR.secret_key, "us-east-1", service)
    sign("GET", url, headers, None, credentials, WHEN)
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/{service}/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


async def test_an_aws_sig_v4_upstream_receives_a_signature_over_what_it_received(
    loopback: tuple[str, Recorder], tmp_path: Path
) -> None:
    base, seen = loopback
    seen.requests.clear()
    op = {
        "name": "op",
        "method": "POST",
        "inputParameters": [{"name": "q", "in": "query", "value": "{{q}}"}],
        "body": '{"q": "{{q}}"}',
    }
    auth = {
        "type": "aws-sig-v4",
        "accessKeyId": "{{AWS_ACCESS_KEY_ID}}",
        "secretKey": "{{AWS_SECRET_ACCESS_KEY}}",
        "region": "eu-west-1",
        "service": "ce",
    }
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-key-value"}
    spec = tool_spec(tmp_path, base, op, {"inputParameters": [_arg("q")]}, authentication=auth)
    async with gateway(spec, env) as gw:
        await gw.call(gw.tool("t"), {"q": "a b/c"})
    (request,) = seen.requests
    stamp = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    expected = {"Content-Type": request.headers["Content-Type"]}
    url = f"{base}{request.raw_path}?{request.query}"
    sign(
        "POST",
        url,
        expected,
        request.body,
        AwsCredentials("AKIDEXAMPLE", "secret-key-value", "eu-west-1", "ce"),
        stamp.replace(tzinfo=dt.UTC),
    )
    assert request.headers["Authorization"] == expected["Authorization"]
    assert "Credential=AKIDEXAMPLE/" in expected["Authorization"]


# ------------------------------------------------------------------ hints


async def test_aggregate_semantics_become_the_hints_of_tools_that_ref_the_function(
    upstream: Upstream, tmp_path: Path
) -> None:
    op = {"name": "op", "method": "GET"}
    spec = tool_spec(tmp_path, upstream[0], op, {})
    document: dict[str, Any] = __import__("yaml").safe_load(spec.read_text())
    document["capability"]["aggregates"] = [
        {
            "namespace": "agg",
            "functions": [
                {
                    "name": "read",
                    "description": "d",
                    "semantics": {"safe": True, "idempotent": True},
                    "call": "up.op",
                }
            ],
        }
    ]
    document["capability"]["exposes"][0]["tools"] = [
        {"ref": "agg.read"},
        {"name": "overridden", "ref": "agg.read", "hints": {"readOnly": False}},
    ]
    async with gateway(write_spec(tmp_path, document), transport=upstream[2]) as gw:
        derived, overridden = gw.tool("read").hints, gw.tool("overridden").hints
    assert derived is not None and overridden is not None
    assert (derived.readOnly, derived.destructive, derived.idempotent) == (True, False, True)
    assert (overridden.readOnly, overridden.destructive, overridden.idempotent) == (
        False,
        False,
        True,
    )


def test_upstream_oauth2_without_a_token_endpoint_is_refused_at_start(
    upstream: Upstream, tmp_path: Path
) -> None:
    op = {"name": "op", "method": "GET"}
    auth = {"type": "oauth2", "scopes": ["read"]}
    spec = tool_spec(tmp_path, upstream[0], op, {}, authentication=auth)
    with pytest.raises(SpecError) as caught:
        plan_for(spec)
    assert caught.value.location.path == "capability.consumes[0].authentication"
    assert "need tokenEndpoint and clientId" in str(caught.value)
