"""SECURITY.md, guarantee by guarantee: what a caller can and cannot make the gateway do.

Each test goes through a public door (REST or MCP over the adapters' ASGI apps) and asserts
on what the recording upstream received — and that the "attacker" upstream on 127.0.0.2
received nothing.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.settings import Settings
from tests.support.echo import echo_app
from tests.support.groq import TOKEN as GROQ_TOKEN
from tests.support.inprocess import mcp_call, serving
from tests.support.process import naftiko_run
from tests.support.servers import Recorder, serve_app
from tests.support.shared import CORPUS
from tests.support.specs import seed_for
from tests.support.yamlio import dump_yaml, load_yaml

TOKEN = "tok-3f9a1c77e2"
SHORT = "k9z"  # a three-character credential is still a credential

BOUND = {
    "naftiko": "1.0.0-alpha2",
    "info": {"label": "Bound"},
    "binds": [
        {
            "namespace": "env",
            "keys": {
                "API_BASE": "API_BASE",
                "API_TOKEN": "API_TOKEN",
                "API_VERSION": "API_VERSION",
            },
        }
    ],
    "capability": {
        "consumes": [
            {
                "namespace": "items",
                "type": "http",
                "baseUri": "{{API_BASE}}",
                "authentication": {"type": "bearer", "token": "{{API_TOKEN}}"},
                "inputParameters": [
                    {"name": "X-Version", "in": "header", "value": "{{API_VERSION}}"}
                ],
                "resources": [
                    {
                        "name": "item",
                        "path": "/items/{id}",
                        "operations": [
                            {
                                "name": "get-item",
                                "method": "GET",
                                "inputParameters": [
                                    {"name": "id", "in": "path"},
                                    {"name": "q", "in": "query"},
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "exposes": [
            {
                "type": "rest",
                "namespace": "items-rest",
                "port": 0,
                "resources": [
                    {
                        "path": "/items/{id}",
                        "name": "item",
                        "operations": [{"method": "GET", "name": "get", "call": "items.get-item"}],
                    },
                    {
                        "path": "/token",
                        "name": "token",
                        "operations": [
                            {
                                "method": "GET",
                                "name": "token",
                                "outputParameters": [
                                    {"name": "token", "type": "string", "value": "{{API_TOKEN}}"}
                                ],
                            }
                        ],
                    },
                ],
            },
            {
                "type": "mcp",
                "namespace": "items-mcp",
                "port": 0,
                "tools": [
                    {"name": "get-item", "description": "An item.", "call": "items.get-item"},
                    {
                        "name": "token",
                        "description": "A mock that renders a bound value.",
                        "outputParameters": [
                            {"name": "token", "type": "string", "value": "{{API_TOKEN}}"}
                        ],
                    },
                ],
            },
        ],
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(echo_app(recorder)) as url:
        yield url, recorder


@pytest.fixture(scope="module")
def attacker() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(echo_app(recorder), host="127.0.0.2") as url:
        yield url, recorder


@pytest.fixture
def env(upstream: tuple[str, Recorder], attacker: tuple[str, Recorder]) -> dict[str, str]:
    upstream[1].requests.clear()
    attacker[1].requests.clear()
    return {"API_BASE": upstream[0], "API_TOKEN": TOKEN, "API_VERSION": "2026-01"}


def _spec(tmp_path: Path, document: dict[str, Any] = BOUND) -> Path:
    path = tmp_path / "capability.yaml"
    path.write_text(dump_yaml(document, sort_keys=False))
    return path


# ------------------------------------------------------------------ 1. binds are never shadowed


async def test_a_query_parameter_named_after_a_bind_cannot_redirect_the_upstream(
    tmp_path: Path, env: dict[str, str], upstream: Any, attacker: Any
) -> None:
    async with serving(_spec(tmp_path), env=env) as gateway, gateway.client("items-rest") as c:
        query = {"API_BASE": attacker[0], "API_TOKEN": "evil", "API_VERSION": "evil"}
        response = await c.get("/items/abc", params={**query, "env.API_BASE": attacker[0]})
    assert response.status_code == 200, response.text
    assert attacker[1].requests == []
    (seen,) = upstream[1].requests
    assert seen.raw_path == "/items/abc"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["X-Version"] == "2026-01"
    assert seen.query == ""  # undeclared parameters reach nothing, not even the query


async def test_tool_arguments_named_after_binds_cannot_redirect_the_upstream(
    tmp_path: Path, env: dict[str, str], upstream: Any, attacker: Any
) -> None:
    arguments = {"id": "abc", "API_BASE": attacker[0], "API_TOKEN": "evil", "q": "fine"}
    async with serving(_spec(tmp_path), env=env) as gateway, gateway.client("items-mcp") as c:
        result = await mcp_call(c, "get-item", {**arguments, "API_VERSION": "evil"})
    assert not result.get("isError"), result
    assert attacker[1].requests == []
    (seen,) = upstream[1].requests
    assert (seen.raw_path, seen.query) == ("/items/abc", "q=fine")
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["X-Version"] == "2026-01"


async def test_a_declared_input_named_like_a_bind_still_cannot_shadow_it(
    tmp_path: Path, env: dict[str, str], upstream: Any, attacker: Any
) -> None:
    document = load_yaml(dump_yaml(BOUND))
    rest = document["capability"]["exposes"][0]["resources"][0]["operations"][0]
    rest["inputParameters"] = [
        {"name": "id", "in": "path", "type": "string", "description": "Item"},
        {"name": "API_BASE", "in": "query", "type": "string", "description": "A trap"},
    ]
    async with (
        serving(_spec(tmp_path, document), env=env) as gateway,
        gateway.client("items-rest") as c,
    ):
        response = await c.get("/items/abc", params={"API_BASE": attacker[0]})
    assert response.status_code == 200, response.text
    assert attacker[1].requests == []
    assert [r.raw_path for r in upstream[1].requests] == ["/items/abc"]


# ------------------------------------------------------------------ 2. path parameters win


@pytest.fixture
def groq(groq_upstream: tuple[str, Recorder]) -> tuple[str, Recorder]:
    groq_upstream[1].requests.clear()
    return groq_upstream


async def test_a_query_parameter_cannot_replace_the_path_value(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq[0], tmp_path)
    async with (
        serving(spec, env={"GROQ_API_KEY": GROQ_TOKEN}) as gateway,
        gateway.client("groq-batch-rest") as c,
    ):
        for name in ("batch_id", "batch-id"):
            await c.get("/v1/openai/v1/batches/batch_mine", params={name: "batch_other"})
    assert [r.raw_path for r in groq[1].requests] == ["/openai/v1/batches/batch_mine"] * 2


async def test_a_body_field_cannot_replace_the_path_value(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq[0], tmp_path)
    async with (
        serving(spec, env={"GROQ_API_KEY": GROQ_TOKEN}) as gateway,
        gateway.client("groq-batch-rest") as c,
    ):
        body = {"batch_id": "batch_other", "batch-id": "batch_other"}
        await c.post("/v1/openai/v1/batches/batch_mine/cancel", json=body)
    assert [r.raw_path for r in groq[1].requests] == ["/openai/v1/batches/batch_mine/cancel"]


# ------------------------------------------------------------------ 3. host labels

HOSTED = {
    "naftiko": "1.0.0-alpha2",
    "info": {"label": "Hosted"},
    "binds": [{"namespace": "env", "keys": {"PORT": "PORT", "KEY": "KEY"}}],
    "capability": {
        "consumes": [
            {
                "namespace": "hosted",
                "type": "http",
                "baseUri": "http://{box}:{{PORT}}",
                "authentication": {"type": "apikey", "key": "X-Key", "value": "{{KEY}}"},
                "resources": [
                    {
                        "name": "ping",
                        "path": "/ping",
                        "operations": [{"name": "ping", "method": "GET"}],
                    }
                ],
            }
        ],
        "exposes": [
            {
                "type": "mcp",
                "namespace": "hosted-mcp",
                "port": 0,
                "tools": [{"name": "ping", "description": "Ping.", "call": "hosted.ping"}],
            }
        ],
    },
}


@pytest.mark.parametrize(
    "box",
    [
        "127.0.0.2:{port}/stolen#",
        "evil.example",
        "user@127.0.0.2",
        "127.0.0.2:{port}",
        "-bad",
        "a" * 64,
        "",
    ],
)
async def test_a_host_value_must_be_one_dns_label(
    tmp_path: Path, attacker: tuple[str, Recorder], upstream: Any, box: str
) -> None:
    attacker[1].requests.clear()
    port = attacker[0].rsplit(":", 1)[1]
    env = {"PORT": upstream[0].rsplit(":", 1)[1], "KEY": "key-123456"}
    async with (
        serving(_spec(tmp_path, HOSTED), env=env) as gateway,
        gateway.client("hosted-mcp") as c,
    ):
        result = await mcp_call(c, "ping", {"box": box.format(port=port)})
    assert result["isError"] is True
    assert "box" in result["content"][0]["text"]
    assert attacker[1].requests == []


async def test_a_host_label_from_the_caller_is_used(
    tmp_path: Path, upstream: tuple[str, Recorder]
) -> None:
    upstream[1].requests.clear()
    env = {"PORT": upstream[0].rsplit(":", 1)[1], "KEY": "key-123456"}
    async with (
        serving(_spec(tmp_path, HOSTED), env=env) as gateway,
        gateway.client("hosted-mcp") as c,
    ):
        result = await mcp_call(c, "ping", {"box": "localhost"})
    assert not result.get("isError"), result
    (seen,) = upstream[1].requests
    assert seen.headers["X-Key"] == "key-123456"


def test_a_caller_cannot_fill_a_base_uri_port_or_scheme(tmp_path: Path) -> None:
    from naftiko.errors import SpecError
    from naftiko.runtime import build

    for base in ("http://{{HOST}}:{port}", "{scheme}://{{HOST}}", "http://{user}@{{HOST}}"):
        document = load_yaml(dump_yaml(HOSTED))
        document["binds"][0]["keys"]["HOST"] = "HOST"
        document["capability"]["consumes"][0]["baseUri"] = base
        with pytest.raises(SpecError, match=r"only configuration may set|needs an http"):
            build([_spec(tmp_path, document)], Settings(), {"HOST": "h", "PORT": "1", "KEY": "k"})


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the repository")
async def test_the_datadog_host_template_refuses_an_address_as_subdomain(
    tmp_path: Path, attacker: tuple[str, Recorder]
) -> None:
    attacker[1].requests.clear()
    document = load_yaml((CORPUS / "api-evangelist-datadog" / "datadog-assign.yaml").read_text())
    for adapter in document["capability"]["exposes"]:
        adapter["port"] = 0
    mcp = next(a for a in document["capability"]["exposes"] if a["type"] == "mcp")
    port = attacker[0].rsplit(":", 1)[1]
    async with (
        serving(_spec(tmp_path, document), env={"DATADOG_API_KEY": "dd-1234"}) as gateway,
        gateway.client(mcp["namespace"]) as c,
    ):
        listed = await c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        tool = listed.json()["result"]["tools"][0]
        schema = tool["inputSchema"]
        arguments = {name: _sample(schema["properties"][name]) for name in schema["required"]}
        arguments |= {"subdomain": f"127.0.0.2:{port}/stolen#", "site": "datadoghq"}
        result = await mcp_call(c, tool["name"], arguments)
    assert result["isError"] is True
    assert "subdomain" in result["content"][0]["text"]
    assert attacker[1].requests == []


def _sample(schema: dict[str, Any]) -> Any:
    return {"object": {}, "array": [], "integer": 1, "number": 1, "boolean": True}.get(
        schema.get("type", "string"), "x"
    )


async def test_a_redirect_to_another_origin_is_not_followed_with_the_credentials(
    tmp_path: Path, env: dict[str, str], upstream: Any, attacker: Any
) -> None:
    # The upstream has an open redirect, and the caller points it at another host.
    steal = attacker[0] + "/steal"
    async with (
        serving(_spec(tmp_path), env=env) as gateway,
        gateway.client("items-rest") as rest,
        gateway.client("items-mcp") as mcp,
    ):
        response = await rest.get("/items/redirect", params={"q": steal})
        result = await mcp_call(mcp, "get-item", {"id": "redirect", "q": steal})
    assert attacker[1].requests == []
    assert [r.raw_path for r in upstream[1].requests] == ["/items/redirect"] * 2
    # The redirect goes back to the caller as the upstream sent it: theirs to follow.
    assert (response.status_code, response.headers["location"]) == (302, steal)
    assert TOKEN not in str(result)
    assert result["isError"] is True  # no output, not an empty success
    assert result["content"][0]["text"] == (
        f"upstream answered 302: it redirects to {steal}, which the gateway does not follow "
        "(only redirects within the upstream are)"
    )


async def test_a_redirect_within_the_upstream_is_followed_a_bounded_number_of_times(
    tmp_path: Path, env: dict[str, str], upstream: Any
) -> None:
    async with serving(_spec(tmp_path), env=env) as gateway, gateway.client("items-rest") as c:
        moved = await c.get("/items/redirect", params={"q": "/items/moved?page=2"})
        looping = await c.get("/items/loop")
    assert moved.status_code == 200, moved.text
    redirected, second, *loop = upstream[1].requests
    assert redirected.raw_path == "/items/redirect"
    assert (second.raw_path, second.query) == ("/items/moved", "page=2")
    assert second.headers["Authorization"] == f"Bearer {TOKEN}"
    assert second.headers["X-Version"] == "2026-01"
    assert looping.status_code == 502
    assert looping.json()["detail"] == "upstream 'items' redirected too often"
    assert len(loop) == 11  # the first call and ten redirects


async def test_a_created_answer_without_a_body_keeps_its_status_and_location(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # A bodiless 201 (or 202) is not "no content": a client reads Created from the status.
    async with serving(_spec(tmp_path), env=env) as gateway, gateway.client("items-rest") as c:
        response = await c.get("/items/located", params={"q": "https://example.org/items/7"})
    assert (response.status_code, response.content) == (201, b"")
    assert response.headers["location"] == "https://example.org/items/7"


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        ("{up}/v2/items/7", "7"),
        ("/v2/items/7?x=1", "7?x=1"),
        ("{up}/v2/orders/1", "../orders/1"),
        ("{up}/v2/items/", "./"),
        ("{up}/admin", None),
        ("{up}/v2/items/../../admin", None),
        ("http://[::1", None),
        ("https://example.org/items/7", "https://example.org/items/7"),
    ],
)
async def test_a_location_naming_the_upstream_itself_becomes_relative_to_the_caller(
    tmp_path: Path, env: dict[str, str], upstream: Any, sent: str, passed: str | None
) -> None:
    # The upstream's address is configuration: a 201's Location naming it is rewritten
    # relative to the URL the caller used (resolved there, it names the same tail on the
    # gateway), or dropped when it points outside the configured base URI. Another origin's
    # Location is the caller's to follow, as sent.
    document = json.loads(json.dumps(BOUND))
    document["capability"]["consumes"][0]["baseUri"] = "{{API_BASE}}/v2"
    async with (
        serving(_spec(tmp_path, document), env=env) as gateway,
        gateway.client("items-rest") as c,
    ):
        response = await c.get("/items/located", params={"q": sent.format(up=upstream[0])})
    assert response.status_code == 201
    assert response.headers.get("location") == passed


# ------------------------------------------------------------------ 4. dot-segments


@pytest.mark.parametrize("value", ["%2E%2E", "%2e", ".%2E", "%2E"])
async def test_a_dot_segment_path_value_is_refused(
    tmp_path: Path, groq: tuple[str, Recorder], value: str
) -> None:
    spec = seed_for(groq[0], tmp_path)
    async with (
        serving(spec, env={"GROQ_API_KEY": GROQ_TOKEN}) as gateway,
        gateway.client("groq-batch-rest") as c,
    ):
        response = await c.post(f"/v1/openai/v1/batches/{value}/cancel")
    assert response.status_code == 400
    assert response.json()["field"] == "batch_id"
    assert groq[1].requests == []


@pytest.mark.parametrize("value", ["%FF", "caf%E9", "%C0%AE", "%ED%A0%80"])
async def test_a_path_value_that_is_not_utf8_is_refused_naming_the_input(
    tmp_path: Path, env: dict[str, str], upstream: tuple[str, Recorder], value: str
) -> None:
    async with serving(_spec(tmp_path), env=env) as gateway, gateway.client("items-rest") as c:
        refused = await c.get(f"/items/{value}")
        served = await c.get("/items/caf%C3%A9")
    assert (refused.status_code, refused.json()["field"]) == (400, "id")
    assert "not UTF-8" in refused.json()["detail"]
    assert served.status_code == 200
    assert [r.raw_path for r in upstream[1].requests] == ["/items/caf%C3%A9"]


async def test_a_dot_segment_tool_argument_is_refused(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq[0], tmp_path)
    async with (
        serving(spec, env={"GROQ_API_KEY": GROQ_TOKEN}) as gateway,
        gateway.client("groq-batch-mcp") as c,
    ):
        result = await mcp_call(c, "cancels-batch", {"batch_id": ".."})
    assert result["isError"] is True
    assert groq[1].requests == []


# ------------------------------------------------------------------ 7. secrets never leave


async def test_a_forward_never_passes_on_the_adapters_own_query_api_key(
    tmp_path: Path, upstream: tuple[str, Recorder]
) -> None:
    document = {
        "naftiko": "1.0.0-alpha2",
        "binds": [{"namespace": "env", "keys": {"GW_KEY": "GW_KEY"}}],
        "capability": {
            "consumes": [
                {"namespace": "up", "type": "http", "baseUri": upstream[0], "resources": []}
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "gw",
                    "port": 0,
                    "authentication": {
                        "type": "apikey",
                        "key": "gw_key",
                        "placement": "query",
                        "value": "{{GW_KEY}}",
                    },
                    "resources": [
                        {"path": "/p/{{path}}", "name": "p", "forward": {"targetNamespace": "up"}}
                    ],
                }
            ],
        },
    }
    upstream[1].requests.clear()
    async with (
        serving(_spec(tmp_path, document), env={"GW_KEY": TOKEN}) as gateway,
        gateway.client("gw") as c,
    ):
        response = await c.get(f"/p/x?a=1&gw_key={TOKEN}&gw%5Fkey={TOKEN}&b=2")
    assert response.status_code == 200
    # The caller's credential for the gateway is the gateway's to check, not the upstream's.
    assert [r.query for r in upstream[1].requests] == ["a=1&b=2"]


def _forwarding(upstream: str, auth: dict[str, Any], trusted: list[str]) -> dict[str, Any]:
    return {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "consumes": [
                {
                    "namespace": "up",
                    "type": "http",
                    "baseUri": upstream,
                    "authentication": auth,
                    "resources": [],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "gw",
                    "port": 0,
                    "resources": [
                        {
                            "path": "/p/{{path}}",
                            "name": "p",
                            "forward": {"targetNamespace": "up", "trustedHeaders": trusted},
                        }
                    ],
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("auth", "sent"),
    [
        ({"type": "bearer", "token": TOKEN}, {"Authorization": "Bearer caller"}),
        ({"type": "apikey", "key": "X-Api-Key", "value": TOKEN}, {"X-Api-Key": "caller"}),
    ],
)
async def test_a_trusted_header_cannot_replace_the_forwards_configured_credentials(
    tmp_path: Path, upstream: tuple[str, Recorder], auth: dict[str, str], sent: dict[str, str]
) -> None:
    (name,) = sent
    document = _forwarding(upstream[0], auth, [name, "X-Trace"])
    upstream[1].requests.clear()
    async with serving(_spec(tmp_path, document)) as gateway, gateway.client("gw") as c:
        response = await c.get("/p/x", headers={**sent, "X-Trace": "t1"})
    assert response.status_code == 200
    (seen,) = upstream[1].requests
    assert seen.headers[name] != "caller"
    assert TOKEN in seen.headers[name]
    assert seen.headers["X-Trace"] == "t1"  # other trusted headers still pass


@pytest.mark.parametrize(
    "name", ["Host", "Transfer-Encoding", "Content-Length", "Connection", "X Bad"]
)
def test_a_forward_may_not_trust_a_header_that_frames_or_addresses_the_request(
    tmp_path: Path, name: str
) -> None:
    from naftiko.errors import SpecError
    from naftiko.spec.loader import load

    document = _forwarding("http://127.0.0.1:9", {"type": "bearer", "token": "t"}, [name])
    with pytest.raises(SpecError) as refused:
        load(_spec(tmp_path, document))
    assert "resources[0].forward.trustedHeaders[0]: trusted header" in str(refused.value)
    assert "a caller may never set it upstream" in str(refused.value)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"name": "Host", "in": "header"}, "may not come from a caller"),
        ({"name": "Authorization", "in": "header"}, "may not come from a caller: the namespace's"),
        ({"name": "Transfer-Encoding", "in": "header"}, "frames the request"),
        ({"name": "Content-Length", "in": "header", "value": "0"}, "frames the request"),
        ({"name": "api_key", "in": "query"}, "may not come from a caller: the namespace's API"),
    ],
)
def test_an_upstream_header_a_caller_may_not_fill_does_not_load(
    tmp_path: Path, header: dict[str, str], reason: str
) -> None:
    # A caller-chosen Host picks the upstream's virtual host; Authorization replaces the
    # bound token; Transfer-Encoding beside the gateway's Content-Length smuggles a request;
    # a second `api_key` ahead of the bound one is read first by many upstreams.
    from naftiko.errors import SpecError
    from naftiko.spec.loader import load

    document = json.loads(json.dumps(BOUND))
    if header["in"] == "query":
        document["capability"]["consumes"][0]["authentication"] = {
            "type": "apikey",
            "key": "api_key",
            "value": "{{API_TOKEN}}",
            "placement": "query",
        }
    document["capability"]["consumes"][0]["resources"][0]["operations"][0][
        "inputParameters"
    ].insert(0, header)
    with pytest.raises(SpecError) as refused:
        load(_spec(tmp_path, document))
    where = "consumes[0].resources[0].operations[0].inputParameters[0].name"
    kind = "header" if header["in"] == "header" else "query parameter"
    assert f"{where}: {kind} {header['name']!r} {reason}" in str(refused.value)


async def test_a_mock_output_rendering_a_secret_is_masked_on_rest_and_mcp(
    tmp_path: Path, env: dict[str, str]
) -> None:
    async with (
        serving(_spec(tmp_path), env=env) as gateway,
        gateway.client("items-rest") as rest,
        gateway.client("items-mcp") as mcp,
    ):
        response = await rest.get("/token")
        result = await mcp_call(mcp, "token", {})
    assert response.json() == {"token": "***"}
    assert TOKEN not in result["content"][0]["text"]
    assert result.get("structuredContent") in (None, {"token": "***"})


async def test_a_credential_echoed_by_the_upstream_is_masked_whatever_its_length(
    tmp_path: Path, env: dict[str, str]
) -> None:
    async with (
        serving(_spec(tmp_path), env={**env, "API_TOKEN": SHORT}) as gateway,
        gateway.client("items-rest") as rest,
        gateway.client("items-mcp") as mcp,
    ):
        response = await rest.get("/items/abc")
        result = await mcp_call(mcp, "get-item", {"id": "abc"})
    assert SHORT not in response.text
    assert response.json()["headers"]["Authorization"] == "Bearer ***"
    assert SHORT not in str(result)


async def test_a_credential_echoed_escaped_or_percent_encoded_is_masked(
    tmp_path: Path, env: dict[str, str], upstream: tuple[str, Recorder]
) -> None:
    # The echo writes JSON as Python does (ASCII only: `\u00e9`, `\"`), and gives back the
    # query string as it arrived: the key percent-encoded, as the gateway sent it.
    token = 'tok/3f9+a1=c7"é'
    document = json.loads(json.dumps(BOUND))
    consumed = document["capability"]["consumes"][0]
    consumed["inputParameters"].append({"name": "key", "in": "query", "value": "{{API_TOKEN}}"})
    async with (
        serving(_spec(tmp_path, document), env={**env, "API_TOKEN": token}) as gateway,
        gateway.client("items-rest") as rest,
        gateway.client("items-mcp") as mcp,
    ):
        response = await rest.get("/items/abc")
        result = await mcp_call(mcp, "get-item", {"id": "abc"})
    sent = upstream[1].requests[0]
    assert sent.query == "key=tok%2F3f9%2Ba1%3Dc7%22%C3%A9"
    assert sent.headers["Authorization"] == f"Bearer {token}"
    echoed = response.json()
    assert (echoed["query"], echoed["headers"]["Authorization"]) == ("key=***", "Bearer ***")
    assert result["structuredContent"]["query"] == "key=***"
    assert result["structuredContent"]["headers"]["Authorization"] == "Bearer ***"


# ------------------------------------------------------------------ 8. no internals in answers


async def test_an_unreachable_upstream_is_named_by_namespace_not_address(
    tmp_path: Path, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    caplog.set_level(logging.WARNING, logger="naftiko.upstream")
    async with (
        serving(_spec(tmp_path), env={**env, "API_BASE": closed}) as gateway,
        gateway.client("items-rest") as rest,
    ):
        response = await rest.get("/items/abc")
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "items" in detail
    assert "127.0.0.1" not in detail and ":9" not in detail
    warnings = [r for r in caplog.records if r.name == "naftiko.upstream"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "127.0.0.1:9" in warnings[0].getMessage()


def test_a_connection_failure_is_told_by_its_kind_never_its_address() -> None:
    from naftiko.engine.network import os_error_reason

    refused = ConnectionRefusedError(111, "Connect call failed ('10.0.0.7', 8443)")
    assert os_error_reason(refused) == "Connection refused"
    # A resolver's code is no errno (os.strerror(-2) is "Unknown error -2"): its own words.
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert os_error_reason(unknown) == "Name or service not known"
    assert os_error_reason(OSError("no errno")) == "OSError"


# ------------------------------------------------------------------ 9. logs cannot be forged


def test_control_characters_in_a_logged_request_are_escaped() -> None:
    from naftiko.logs import escape_controls

    forged = "/nope\n2026-11-30 10:00:00,000 INFO naftiko.access: items GET /admin 200"
    assert "\n" not in escape_controls(forged)
    assert escape_controls(forged).startswith("/nope\\x0a2026")
    assert escape_controls("a\rb\x1b[31mc\u2028d\x85") == "a\\x0db\\x1b[31mc\\u2028d\\x85"


def test_invisible_and_direction_characters_in_a_logged_request_are_escaped() -> None:
    from naftiko.logs import escape_controls

    # U+202E turns the rest of a line around on a terminal (`... 200` read as `002 ...`);
    # zero-width characters hide text: a log line must show what the caller sent.
    assert escape_controls("/a\u202eb\u200bc\u2066d\ufeff") == "/a\\u202eb\\u200bc\\u2066d\\ufeff"
    assert escape_controls("/caf\u00e9 \u4e2d") == "/caf\u00e9 \u4e2d"  # printable text stays


def test_a_forged_access_line_stays_on_one_line_of_a_real_log(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq[0], tmp_path)
    forged = "/nope%0A2026-11-30%2010:00:00,000%20INFO%20naftiko.access:%20x%20GET%20/admin%20200"
    with naftiko_run(spec, env={"GROQ_API_KEY": GROQ_TOKEN}, adapters=2) as running:
        url = running.url("groq-batch-rest")
        assert httpx.get(url + forged).status_code == 404
    lines = [line for line in running.stderr_lines if "naftiko.access" in line]
    assert len(lines) == 1
    assert "/nope\\x0a2026-11-30 10:00:00,000 INFO naftiko.access: x GET /admin 200" in lines[0]


async def test_a_body_field_named_body_does_not_replace_the_payload(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq[0], tmp_path)
    payload = {"input_file_id": "file_1", "body": {"nested": True}, "completion_window": "24h"}
    env = {"GROQ_API_KEY": GROQ_TOKEN}
    async with serving(spec, env=env) as gateway, gateway.client("groq-batch-rest") as c:
        await c.post("/v1/openai/v1/batches", json=payload)
    (seen,) = groq[1].requests
    assert json.loads(seen.body) == payload
