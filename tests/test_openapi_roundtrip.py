"""OpenAPI → `naftiko import openapi --capability` → `validate` → `naftiko run` → real clients.

The GroqCloud batch document is driven by the openai SDK (REST) and the mcp SDK; four other
documents of other shapes (Swagger 2.0 JSON, a three-file OpenAPI 3.1, the two Microcks files
of the conformance suite) are served together by one process, each against a fake upstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from naftiko.cli import app
from tests.support.echo import echo_app
from tests.support.groq import TOKEN, batch
from tests.support.mcp_client import mcp_http
from tests.support.microcks import LEGACY_OPENAPI, REGISTRY_OPENAPI, serve_openapi_mock_in_thread
from tests.support.servers import Recorder, serve_app
from tests.support.threaded import Gateway, naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml

if TYPE_CHECKING:
    import openai
    from mcp_types import CallToolResult

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
GROQ = FIXTURES / "groqcloud-batches.yaml"
PETS = FIXTURES / "petstore-swagger2.json"
LIBRARY = FIXTURES / "library" / "library.yaml"
REGISTRY_PREFIX = "/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2"


def imported(source: Path, folder: Path, upstream: str, *args: str) -> Path:
    """`import openapi --capability`, pointed at `upstream` and ephemeral ports, validated."""
    out = folder / f"{source.stem}.naftiko.yaml"
    runner = CliRunner()
    done = runner.invoke(
        app, ["import", "openapi", str(source), "--capability", "-o", str(out), *args]
    )
    assert done.exit_code == 0, done.output
    data = load_yaml(out.read_text())
    data["capability"]["consumes"][0]["baseUri"] = upstream
    for adapter in data["capability"]["exposes"]:
        adapter["port"] = 0
    out.write_text(dump_yaml(data, sort_keys=False))
    checked = runner.invoke(app, ["validate", str(out)])
    assert checked.exit_code == 0, checked.output
    return out


def _text(result: CallToolResult) -> str:
    (content,) = result.content
    assert content.type == "text"
    return content.text


# ---------------------------------------------------------------------------------- GroqCloud


@pytest.fixture(scope="module")
def groq(groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported(GROQ, tmp_path_factory.mktemp("groq"), groq_upstream[0], "-n", "groq")


@pytest.fixture(scope="module")
def groq_gateway(groq: Path) -> Iterator[Gateway]:
    with naftiko_thread(groq, env={"GROQ_TOKEN": TOKEN}) as running:
        yield running


@pytest.fixture
def client(groq_gateway: Gateway) -> openai.OpenAI:
    import openai  # here, not at collection: the SDK takes ~0.4 s to import

    base = groq_gateway.url("groq-rest") + "/openai/v1"
    return openai.OpenAI(api_key="caller-key", base_url=base, max_retries=0)


def test_the_openai_sdk_creates_a_batch_through_the_imported_capability(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    created = client.batches.create(
        input_file_id="file_01", endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert created.id == "batch_new"
    (sent,) = recorder.requests
    assert (sent.method, sent.path) == ("POST", "/openai/v1/batches")
    assert json.loads(sent.body) == {
        "input_file_id": "file_01",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_openai_sdk_lists_retrieves_and_cancels_batches(
    client: openai.OpenAI, recorder: Recorder
) -> None:
    assert [b.id for b in client.batches.list(limit=2).data] == ["batch_01", "batch_02"]
    assert client.batches.retrieve("batch_7").status == "validating"
    assert client.batches.cancel("batch_7").status == "cancelling"
    sent = [(r.method, r.path, r.query) for r in recorder.requests]
    assert sent == [
        ("GET", "/openai/v1/batches", "limit=2"),
        ("GET", "/openai/v1/batches/batch_7", ""),
        ("POST", "/openai/v1/batches/batch_7/cancel", ""),
    ]


def test_an_enum_the_document_declares_is_enforced_before_any_upstream_call(
    groq_gateway: Gateway, recorder: Recorder
) -> None:
    url = groq_gateway.url("groq-rest") + "/openai/v1/batches"
    body = {"input_file_id": "f", "endpoint": "/v1/embeddings", "completion_window": "24h"}
    answer = httpx.post(url, json=body)
    assert answer.status_code == 400
    assert "endpoint" in answer.json()["detail"]
    assert recorder.requests == []


async def test_the_mcp_sdk_sees_one_annotated_tool_per_operation(groq_gateway: Gateway) -> None:
    async with mcp_http(groq_gateway.url("groq-mcp") + "/mcp", "auto") as session:
        listed = await session.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert sorted(tools) == ["cancel-batch", "create-batch", "list-batches", "retrieve-batch"]
    hints = tools["list-batches"].annotations
    assert hints is not None
    assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
        True,
        False,
        True,
    )
    schema = tools["create-batch"].input_schema
    assert schema["required"] == ["input_file_id", "endpoint", "completion_window"]
    assert schema["properties"]["endpoint"]["enum"] == [
        "/v1/chat/completions",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
    ]
    assert schema["properties"]["completion_window"]["pattern"] == "^(24h|[1-7]d)$"


async def test_an_mcp_call_sends_the_tool_arguments_as_the_upstream_json_body(
    groq_gateway: Gateway, recorder: Recorder
) -> None:
    arguments = {"input_file_id": "file_9", "endpoint": "/v1/chat/completions"}
    async with mcp_http(groq_gateway.url("groq-mcp") + "/mcp", "auto") as session:
        refused = await session.call_tool("create-batch", arguments)
        result = await session.call_tool("create-batch", {**arguments, "completion_window": "24h"})
    assert refused.is_error
    assert (result.is_error, result.structured_content) == (False, batch("batch_new"))
    (sent,) = recorder.requests
    assert json.loads(sent.body) == {**arguments, "completion_window": "24h"}


def test_export_openapi_writes_the_document_the_rest_adapter_serves(
    groq: Path, groq_gateway: Gateway, tmp_path: Path
) -> None:
    out = tmp_path / "openapi.json"
    done = CliRunner().invoke(app, ["export", "openapi", str(groq), "-f", "json", "-o", str(out)])
    assert done.exit_code == 0, done.output
    served = httpx.get(groq_gateway.url("groq-rest") + "/openapi.json").json()
    assert json.loads(out.read_text()) == served


# ------------------------------------------------------------ four other documents, one process


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_app(echo_app(recorder)) as url:
        yield url, recorder


@pytest.fixture(scope="module")
def others(
    echo: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, Any]]:
    folder = tmp_path_factory.mktemp("others")
    with serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI) as mock:
        specs = [
            imported(PETS, folder, echo[0] + "/api/v2"),
            imported(LIBRARY, folder, echo[0] + "/v3"),
            imported(
                REGISTRY_OPENAPI, folder, mock.base_url_for(REGISTRY_OPENAPI), "-n", "registry"
            ),
            imported(LEGACY_OPENAPI, folder, mock.base_url_for(LEGACY_OPENAPI), "-n", "legacy"),
        ]
        env = {
            "PET_STORE_API_KEY": "pet-key",
            "CITY_LIBRARY_USERNAME": "alice",
            "CITY_LIBRARY_PASSWORD": "s3cret",
            "REGISTRY_TOKEN": "registry-token",
            "LEGACY_API_KEY": "dock-key",
        }
        with naftiko_thread(*specs, env=env) as running:
            yield running, mock


def test_a_swagger_2_query_reaches_the_upstream_with_its_api_key(
    others: tuple[Gateway, Any], echo: tuple[str, Recorder]
) -> None:
    echo[1].requests.clear()
    url = others[0].url("pet-store-rest") + "/api/v2/pets"
    answer = httpx.get(url, params={"status": "sold", "limit": "5"})
    assert answer.status_code == 200
    (sent,) = echo[1].requests
    assert (sent.method, sent.path, sent.query) == ("GET", "/api/v2/pets", "status=sold&limit=5")
    assert sent.headers["X-Pet-Key"] == "pet-key"


async def test_swagger_2_body_and_form_parameters_become_tool_arguments(
    others: tuple[Gateway, Any], echo: tuple[str, Recorder]
) -> None:
    echo[1].requests.clear()
    async with mcp_http(others[0].url("pet-store-mcp") + "/mcp", "auto") as session:
        added = await session.call_tool("add-pet", {"name": "Rex", "tag": "dog"})
        renamed = await session.call_tool("update-pet-with-form", {"petId": 7, "name": "Max"})
    assert not added.is_error and not renamed.is_error
    add, rename = echo[1].requests
    assert (add.path, json.loads(add.body)) == ("/api/v2/pets", {"name": "Rex", "tag": "dog"})
    assert (rename.path, rename.body) == ("/api/v2/pets/7", b"name=Max")
    assert rename.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_a_cross_file_openapi_31_document_serves_nested_bodies_with_basic_auth(
    others: tuple[Gateway, Any], echo: tuple[str, Recorder]
) -> None:
    echo[1].requests.clear()
    loan = {"isbn": "9780000000001", "member": {"card": "C-1", "email": "a@example.org"}}
    async with mcp_http(others[0].url("city-library-mcp") + "/mcp", "auto") as session:
        listed = await session.list_tools()
        missing = await session.call_tool("search-books", {})
        created = await session.call_tool("create-loan", loan)
    (tool,) = [t for t in listed.tools if t.name == "create-loan"]
    assert tool.input_schema["properties"]["member"] == {
        "type": "object",
        "description": "body parameter member",
        "required": ["card"],
        "properties": {"card": {"type": "string"}, "email": {"type": "string", "format": "email"}},
    }
    assert missing.is_error and "'q'" in _text(missing)
    assert not created.is_error
    (sent,) = echo[1].requests
    assert (sent.path, json.loads(sent.body)) == ("/v3/loans", loan)
    assert sent.headers["Authorization"] == "Basic YWxpY2U6czNjcmV0"


def test_the_microcks_registry_answers_through_the_imported_rest_adapter(
    others: tuple[Gateway, Any],
) -> None:
    running, mock = others
    url = running.url("registry-rest") + REGISTRY_PREFIX + "/ships/IMO-9321483"
    answer = httpx.get(url)
    assert (answer.status_code, answer.json()["vessel_name"]) == (200, "Northern Star")
    (sent,) = mock.requests_to(REGISTRY_OPENAPI)[-1:]
    assert sent.headers["Authorization"] == "Bearer registry-token"


async def test_the_microcks_legacy_xml_api_answers_through_its_mcp_tool(
    others: tuple[Gateway, Any],
) -> None:
    running, mock = others
    async with mcp_http(running.url("legacy-mcp") + "/mcp", "auto") as session:
        result = await session.call_tool("get-vessel", {"vesselCode": "LEGACY-4012"})
    assert not result.is_error
    assert "LEGACY-4012" in _text(result)
    (sent,) = mock.requests_to(LEGACY_OPENAPI)[-1:]
    assert sent.headers["X-Dock-Key"] == "dock-key"
