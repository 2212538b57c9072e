"""MCP adapter features beyond the seed: adapter auth, resources, prompts, labels, metrics and
upstream timeouts, on a spec written for the purpose, served by the runtime's listeners in a
thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.adapters.mcp_content import RESOURCE_NOT_FOUND
from naftiko.engine.options import Timeouts
from naftiko.settings import Settings
from tests.support.echo import echo_app
from tests.support.groq import TOKEN, batch
from tests.support.mcp_client import INVALID_PARAMS, mcp_http, rpc
from tests.support.servers import Recorder, serve_app
from tests.support.specs import SEED
from tests.support.threaded import Gateway, naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml

MCP_TOKEN = "mcp-caller-token-123"
ECHO_TOKEN = "echo-upstream-token-456"
OUTREACH = "Write to {{participant_name}} about {{product}}; keep {{unknown}} as is."
REGIONS = ["eu-west", "eu-north", "us-east"]


def _docs_adapter() -> dict[str, Any]:
    return {
        "type": "mcp",
        "namespace": "docs-mcp",
        "port": 0,
        "description": "Batch guides, prompts and one tool.",
        "tools": [
            {
                "name": "retrieves-batch",
                "label": "Retrieve a batch",
                "description": "Retrieves a batch.",
                "hints": {"readOnly": True, "openWorld": True},
                "call": "groq-batch.retrievebatch",
                "with": {"batch_id": "tools.batch_id"},
            },
            {"name": "echo", "description": "What the upstream received.", "call": "echo.get"},
        ],
        "resources": [
            {
                "name": "guides",
                "label": "Guides",
                "uri": "docs://guides",
                "description": "How to run batches.",
                "location": "file:///./guides",
            },
            {
                "name": "batch",
                "label": "Batch",
                "uri": "groq://batches/{batch_id}",
                "description": "One batch by id.",
                "call": "groq-batch.retrievebatch",
            },
            {"name": "batches", "uri": "groq://batches", "call": "groq-batch.listbatches"},
            {"name": "region", "uri": "echo://regions/{region}", "call": "echo.region"},
        ],
        "prompts": [
            {
                "name": "outreach",
                "label": "Outreach",
                "description": "Draft an outreach message.",
                "arguments": [
                    {"name": "participant_name", "description": "Who to write to"},
                    {"name": "product", "required": False},
                ],
                "template": [
                    {"role": "user", "content": OUTREACH},
                    {"role": "assistant", "content": "Here is a draft."},
                ],
            },
            {
                "name": "review",
                "description": "Review a batch.",
                "arguments": [{"name": "batch_id"}],
                "location": "file:///./prompts/review.md",
            },
        ],
    }


def _locked_adapter() -> dict[str, Any]:
    return {
        "type": "mcp",
        "namespace": "locked-mcp",
        "port": 0,
        "authentication": {"type": "bearer", "token": "{{MCP_TOKEN}}"},
        "tools": [
            {
                "name": "ping",
                "description": "Answers pong.",
                "outputParameters": [{"name": "answer", "type": "string", "value": "pong"}],
            }
        ],
    }


def _echo_consumes(upstream: str) -> dict[str, Any]:
    """An upstream that answers with the request it received, credentials included."""
    return {
        "type": "http",
        "namespace": "echo",
        "baseUri": upstream,
        "authentication": {"type": "bearer", "token": "{{env.ECHO_TOKEN}}"},
        "resources": [
            {"name": "any", "path": "/anything", "operations": [{"name": "get", "method": "GET"}]},
            {
                "name": "regions",
                "path": "/anything/{{region}}",
                "operations": [
                    {
                        "name": "region",
                        "method": "GET",
                        "inputParameters": [
                            {"name": "region", "in": "path", "type": "string", "enum": REGIONS}
                        ],
                    }
                ],
            },
        ],
    }


def _features_spec(upstream: str, echo: str, folder: Path) -> Path:
    (folder / "guides" / "api").mkdir(parents=True)
    (folder / "guides" / "intro.md").write_text("# Batches\n")
    (folder / "guides" / "api" / "limits.json").write_text('{"max": 50000}')
    (folder / "prompts").mkdir()
    (folder / "prompts" / "review.md").write_text("Review batch {{batch_id}} carefully.")
    (folder / "outside.txt").write_text("not a resource")
    consumes = load_yaml(SEED.read_text())["capability"]["consumes"]
    consumes[0]["baseUri"] = upstream
    consumes.append(_echo_consumes(echo))
    spec = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "MCP features"},
        "binds": [
            {
                "namespace": "env",
                "keys": {
                    "GROQ_API_KEY": "GROQ_API_KEY",
                    "MCP_TOKEN": "MCP_TOKEN",
                    "ECHO_TOKEN": "ECHO_TOKEN",
                },
            }
        ],
        "capability": {
            "consumes": consumes,
            "exposes": [_docs_adapter(), _locked_adapter(), {"type": "control", "port": 0}],
        },
    }
    path = folder / "features.yaml"
    path.write_text(dump_yaml(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[str]:
    with serve_app(echo_app(Recorder())) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(
    groq_upstream: tuple[str, Recorder],
    echo_upstream: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("features")
    spec = _features_spec(groq_upstream[0], echo_upstream, folder)
    env = {"GROQ_API_KEY": TOKEN, "MCP_TOKEN": MCP_TOKEN, "ECHO_TOKEN": ECHO_TOKEN}
    settings = Settings(timeouts=Timeouts(total=0.5))
    with naftiko_thread(spec, env=env, settings=settings) as running:
        yield running


@pytest.fixture
def docs(gateway: Gateway) -> str:
    return gateway.url("docs-mcp") + "/mcp"


def _text(content: object) -> str:
    from mcp_types import TextContent, TextResourceContents

    assert isinstance(content, TextContent | TextResourceContents)
    return content.text


# ----------------------------------------------------------------------------- auth


def test_a_bearer_protected_adapter_refuses_a_caller_without_the_token(gateway: Gateway) -> None:
    response = rpc(gateway.url("locked-mcp") + "/", "tools/list")
    assert (response.status_code, response.headers["content-type"]) == (
        401,
        "application/problem+json",
    )
    assert response.json()["status"] == 401


def test_a_bearer_protected_adapter_refuses_a_wrong_token(gateway: Gateway) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    assert rpc(gateway.url("locked-mcp") + "/mcp", "tools/list", headers=wrong).status_code == 401


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_bearer_protected_adapter_serves_a_client_with_the_token(
    gateway: Gateway, mode: str
) -> None:
    headers = {"Authorization": f"Bearer {MCP_TOKEN}"}
    async with mcp_http(gateway.url("locked-mcp") + "/mcp", mode, headers) as client:
        result = await client.call_tool("ping", {})
    assert result.structured_content == {"answer": "pong"}


# ----------------------------------------------------------------------------- tools


async def test_a_tool_label_becomes_its_title_and_annotation_title(docs: str) -> None:
    async with mcp_http(docs, "auto") as client:
        (listed, _) = (await client.list_tools()).tools
    assert listed.title == "Retrieve a batch"
    assert listed.annotations is not None
    assert listed.annotations.model_dump(exclude_none=True) == {
        "title": "Retrieve a batch",
        "read_only_hint": True,
        "open_world_hint": True,
    }


async def test_a_slow_upstream_is_a_timeout_error_result(docs: str) -> None:
    async with mcp_http(docs, "auto") as client:
        result = await client.call_tool("retrieves-batch", {"batch_id": "slow"})
    assert (result.is_error, _text(result.content[0])) == (
        True,
        "upstream 'groq-batch' did not answer in time",
    )


async def test_a_secret_echoed_by_the_upstream_is_redacted_from_the_result(docs: str) -> None:
    async with mcp_http(docs, "auto") as client:
        result = await client.call_tool("echo", {})
    assert result.structured_content is not None
    assert result.structured_content["headers"]["Authorization"] == "Bearer ***"
    assert ECHO_TOKEN not in result.model_dump_json()


async def test_a_tool_call_forwards_the_callers_request_id_upstream(docs: str) -> None:
    async with mcp_http(docs, "legacy", {"X-Request-Id": "mcp-req-7"}) as client:
        result = await client.call_tool("echo", {})
    assert result.structured_content is not None
    assert result.structured_content["headers"]["X-Request-ID"] == "mcp-req-7"


async def test_tool_calls_are_counted_by_outcome_in_the_metrics(
    gateway: Gateway, docs: str
) -> None:
    async with mcp_http(docs, "auto") as client:
        await client.call_tool("retrieves-batch", {"batch_id": "b1"})
        await client.call_tool("retrieves-batch", {"batch_id": "missing"})
    metrics = httpx.get(gateway.url("control") + "/metrics").text
    series = 'naftiko_adapter_type="mcp",naftiko_operation_id="retrieves-batch"'
    assert f'naftiko_request_total{{{series},status="OK"}}' in metrics
    assert f'naftiko_request_total{{{series},status="ERROR"}}' in metrics
    assert f'naftiko_request_errors{{error_type="tool_error",{series}}}' in metrics


# ----------------------------------------------------------------------------- resources


async def test_resources_list_each_guide_file_and_each_concrete_dynamic_uri(docs: str) -> None:
    async with mcp_http(docs, "auto") as client:
        listed = (await client.list_resources()).resources
    assert {(r.uri, r.mime_type) for r in listed} == {
        ("groq://batches", "application/json"),
        ("docs://guides/api/limits.json", "application/json"),
        ("docs://guides/intro.md", "text/markdown"),
    }


async def test_a_guide_file_is_read_as_text(docs: str) -> None:
    async with mcp_http(docs, "legacy") as client:
        (content,) = (await client.read_resource("docs://guides/intro.md")).contents
    assert (content.uri, content.mime_type, _text(content)) == (
        "docs://guides/intro.md",
        "text/markdown",
        "# Batches\n",
    )


@pytest.mark.parametrize(
    "uri",
    [
        "docs://guides/../outside.txt",
        "docs://guides/%2e%2e/outside.txt",
        "docs://guides/api",
        "docs://guides/" + "a" * 300 + ".md",  # longer than a file name can be
    ],
)
async def test_a_uri_leaving_the_folder_or_naming_a_folder_is_an_unknown_resource(
    docs: str, uri: str
) -> None:
    from mcp.shared.exceptions import MCPError

    async with mcp_http(docs, "auto") as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
    assert (raised.value.code, raised.value.message) == (
        RESOURCE_NOT_FOUND,
        f"Unknown resource: {uri}",
    )


async def test_an_upstream_404_behind_a_resource_template_is_resource_not_found(
    docs: str,
) -> None:
    from mcp.shared.exceptions import MCPError

    async with mcp_http(docs, "legacy") as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("groq://batches/missing")
    assert (raised.value.code, raised.value.message, raised.value.data) == (
        RESOURCE_NOT_FOUND,
        "upstream answered 404: batch missing not found",
        {"uri": "groq://batches/missing"},
    )


async def test_a_resource_template_is_read_through_the_upstream(
    docs: str, recorder: Recorder
) -> None:
    async with mcp_http(docs, "auto") as client:
        templates = (await client.list_resource_templates()).resource_templates
        (content,) = (await client.read_resource("groq://batches/batch_5")).contents
    assert [(t.uri_template, t.name, t.title) for t in templates] == [
        ("groq://batches/{batch_id}", "batch", "Batch"),
        ("echo://regions/{region}", "region", None),
    ]
    assert (content.mime_type, json.loads(_text(content))) == ("application/json", batch("batch_5"))
    assert [(r.path, r.headers["Authorization"]) for r in recorder.requests] == [
        ("/openai/v1/batches/batch_5", f"Bearer {TOKEN}")
    ]


# ----------------------------------------------------------------------------- prompts


async def test_prompts_are_listed_with_their_arguments_required_by_default(docs: str) -> None:
    async with mcp_http(docs, "auto") as client:
        prompts = (await client.list_prompts()).prompts
    assert [
        (p.name, p.title, [(a.name, a.required) for a in p.arguments or []]) for p in prompts
    ] == [
        ("outreach", "Outreach", [("participant_name", True), ("product", False)]),
        ("review", None, [("batch_id", True)]),
    ]


async def test_a_prompt_substitutes_arguments_once_and_keeps_unknown_placeholders(
    docs: str,
) -> None:
    arguments = {"participant_name": "{{product}}", "product": "Batch API"}
    async with mcp_http(docs, "auto") as client:
        prompt = await client.get_prompt("outreach", arguments)
    assert [(m.role, _text(m.content)) for m in prompt.messages] == [
        ("user", "Write to {{product}} about Batch API; keep {{unknown}} as is."),
        ("assistant", "Here is a draft."),
    ]


async def test_a_prompt_file_is_one_user_message(docs: str) -> None:
    async with mcp_http(docs, "legacy") as client:
        prompt = await client.get_prompt("review", {"batch_id": "batch_7"})
    assert [(m.role, _text(m.content)) for m in prompt.messages] == [
        ("user", "Review batch batch_7 carefully.")
    ]


async def test_an_unknown_prompt_is_invalid_params(docs: str) -> None:
    from mcp.shared.exceptions import MCPError

    async with mcp_http(docs, "auto") as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("nope", {})
    assert (raised.value.code, raised.value.message) == (INVALID_PARAMS, "Unknown prompt: nope")


async def test_a_prompt_without_a_required_argument_is_invalid_params_naming_it(
    docs: str,
) -> None:
    from mcp.shared.exceptions import MCPError

    async with mcp_http(docs, "auto") as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("outreach", {"product": "Batch API"})
    assert (raised.value.code, raised.value.message) == (
        INVALID_PARAMS,
        "Missing required argument 'participant_name' of prompt 'outreach'",
    )


async def test_an_unset_optional_argument_leaves_no_placeholder(docs: str) -> None:
    async with mcp_http(docs, "legacy") as client:
        prompt = await client.get_prompt("outreach", {"participant_name": "Ada"})
    assert _text(prompt.messages[0].content) == "Write to Ada about ; keep {{unknown}} as is."


# ----------------------------------------------------------------------------- completion, logging


def _complete(docs: str, ref: dict[str, str], name: str, value: str) -> dict[str, Any]:
    params = {"ref": ref, "argument": {"name": name, "value": value}}
    answer: dict[str, Any] = rpc(docs, "completion/complete", params).json()
    return answer


def test_a_template_variable_completes_from_the_values_its_spec_declares(docs: str) -> None:
    template = {"type": "ref/resource", "uri": "echo://regions/{region}"}
    assert _complete(docs, template, "region", "eu")["result"] == {
        "completion": {"values": ["eu-west", "eu-north"], "total": 2, "hasMore": False}
    }
    # No values declared (a free batch id): nothing to offer, which is an answer too.
    batches = {"type": "ref/resource", "uri": "groq://batches/{batch_id}"}
    assert _complete(docs, batches, "batch_id", "b")["result"]["completion"]["values"] == []
    prompt = {"type": "ref/prompt", "name": "outreach"}
    assert _complete(docs, prompt, "product", "x")["result"]["completion"]["values"] == []


@pytest.mark.parametrize(
    ("ref", "name", "said"),
    [
        ({"type": "ref/prompt", "name": "nope"}, "a", "Unknown prompt: nope"),
        ({"type": "ref/prompt", "name": "outreach"}, "zz", "Unknown argument 'zz'"),
        ({"type": "ref/resource", "uri": "echo://nope/{x}"}, "x", "Unknown resource template"),
        ({"type": "ref/resource", "uri": "echo://regions/{region}"}, "zz", "Unknown variable"),
        ({"type": "ref/tool", "name": "echo"}, "a", "'ref.type' must be"),
    ],
)
def test_completing_what_the_adapter_does_not_have_is_invalid_params(
    docs: str, ref: dict[str, str], name: str, said: str
) -> None:
    error = _complete(docs, ref, name, "")["error"]
    assert error["code"] == INVALID_PARAMS and said in error["message"]


async def test_the_logging_level_is_accepted_and_completions_are_announced(docs: str) -> None:
    async with mcp_http(docs, "legacy") as client:
        capabilities = client.server_capabilities
        assert capabilities is not None
        assert capabilities.completions is not None and capabilities.logging is not None
    # Bare: the SDK warns that logging is deprecated (2026-07-28 drops it; so does discover).
    assert rpc(docs, "logging/setLevel", {"level": "warning"}).json()["result"] == {}
    wrong = rpc(docs, "logging/setLevel", {"level": "loud"}).json()["error"]
    assert wrong["code"] == INVALID_PARAMS and "'level' must be one of debug" in wrong["message"]
