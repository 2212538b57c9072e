"""One reading of every template: adapter-namespaced references in consumed templates,
resource URI templates, NaN outputs and the advice of an unset variable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from naftiko.adapters.mcp_content import Resources
from naftiko.errors import BindingError, SpecError
from naftiko.spec.loader import load
from tests.support.engine_harness import Answer, gateway, plan_for, write_spec
from tests.support.transport import Upstream, recording_upstream, scripted

ANSWERS: dict[str, Answer] = {
    "/nan": (200, b'{"price": "NaN", "size": 3}', "application/json"),
}


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return recording_upstream(scripted(ANSWERS))


def _document(base: str, op: dict[str, Any], mcp: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [{"type": "mcp", "port": 0, "namespace": "shop", **mcp}],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "pay",
                    "baseUri": base,
                    "resources": [{"name": "r", "path": "/", "operations": [op]}],
                }
            ],
            **body,
        },
    }


async def test_tools_and_rest_references_in_a_consumed_body_are_the_callers_inputs(
    upstream: Upstream, tmp_path: Path
) -> None:
    op = {
        "name": "charge",
        "method": "POST",
        "path": "/charges",
        "body": {"type": "json", "data": {"amount": "{{tools.amount}}", "cur": "{{rest.cur}}"}},
    }
    tools = {"tools": [{"name": "charge", "description": "d", "call": "pay.charge"}]}
    spec = write_spec(tmp_path, _document(upstream[0], op, tools))
    warnings = [str(w) for w in load(spec).warnings if "caller's input" in w.message]
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "capability.consumes[0].resources[0].operations[0].body.data.amount: "
        "`{{tools.X}}` / `{{rest.X}}` read as the caller's input `X`",
        "capability.consumes[0].resources[0].operations[0].body.data.cur: "
        "`{{tools.X}}` / `{{rest.X}}` read as the caller's input `X`",
    ]
    upstream[1].requests.clear()
    async with gateway(spec, transport=upstream[2]) as gw:
        tool = gw.tool("charge")
        assert tool.input_schema == {
            "type": "object",
            "properties": {"amount": {}, "cur": {}},
        }
        await gw.call(tool, {"amount": "1000"})
    assert json.loads(upstream[1].requests[-1].body) == {"amount": "1000"}


async def test_a_resource_uri_variable_with_a_dash_is_a_variable_when_read(
    upstream: Upstream, tmp_path: Path
) -> None:
    op = {"name": "profile", "method": "GET", "path": "/users/{{user-id}}/profile"}
    resource = {
        "name": "profile",
        "uri": "data://users/{user-id}/profile",
        "description": "d",
        "call": "pay.profile",
    }
    spec = write_spec(tmp_path, _document(upstream[0], op, {"resources": [resource]}))
    upstream[1].requests.clear()
    async with gateway(spec, transport=upstream[2]) as gw:
        resources = Resources(gw.mcp[0].resources, tmp_path, gw.engine)
        answer = await resources.read("data://users/u%201/profile")
    assert answer["contents"][0]["uri"] == "data://users/u%201/profile"
    assert upstream[1].requests[-1].raw_path == "/users/u%201/profile"


async def test_a_nan_in_a_number_output_is_null_not_a_server_error(
    upstream: Upstream, tmp_path: Path
) -> None:
    op = {"name": "nan", "method": "GET", "path": "/nan"}
    outputs = [
        {
            "type": "object",
            "mapping": "$",
            "properties": {
                "price": {"type": "number", "mapping": "$.price"},
                "size": {"type": "number", "mapping": "$.size"},
            },
        }
    ]
    tool = {"name": "nan", "description": "d", "call": "pay.nan", "outputParameters": outputs}
    spec = write_spec(tmp_path, _document(upstream[0], op, {"tools": [tool]}))
    async with gateway(spec, transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("nan"), {})
    assert result.body == {"price": None, "size": 3}
    assert json.loads(result.text()) == {"price": None, "size": 3}


def _auth_spec(tmp_path: Path, binds: list[dict[str, Any]], username: str) -> Path:
    op = {"name": "op", "method": "GET"}
    document = _document("http://127.0.0.1:9", op, {"tools": []}, binds=binds)
    document["capability"]["consumes"][0]["authentication"] = {
        "type": "basic",
        "username": username,
        "password": "{{env.VNC_API_KEY}}",
    }
    return write_spec(tmp_path, document)


ENV_BIND = [{"namespace": "env", "keys": {"VNC_API_KEY": "VNC_API_KEY"}}]


def test_env_references_beside_an_environment_env_bind_read_the_environment(
    tmp_path: Path,
) -> None:
    spec = _auth_spec(tmp_path, ENV_BIND, "{{env.VNC_USER}}")
    plan = plan_for(spec, {"VNC_API_KEY": "key-1", "VNC_USER": "alice"})
    assert plan.bindings.lookup("env.VNC_USER") == "alice"


@pytest.mark.parametrize(
    ("binds", "username", "advice"),
    [
        (ENV_BIND, "{{env.VNC_USER}}", "variable env.VNC_USER is not set (set VNC_USER in the "),
        (
            [{"namespace": "vnc", "keys": {"VNC_API_KEY": "VNC_API_KEY"}}],
            "{{vnc.USER}}",
            "variable vnc.USER is not set (add USER to the keys of bind 'vnc')",
        ),
        (ENV_BIND, "{{USER_NAME}}", "variable USER_NAME is not set (bind it in `binds`, or set "),
    ],
)
def test_an_unset_variable_is_refused_with_advice_that_would_work(
    tmp_path: Path, binds: list[dict[str, Any]], username: str, advice: str
) -> None:
    spec = _auth_spec(tmp_path, binds, username)
    with pytest.raises(BindingError) as caught:
        plan_for(spec, {"VNC_API_KEY": "key-1"})
    assert advice in str(caught.value)


def test_a_dotted_variable_that_nothing_can_set_is_a_located_error_at_load(
    tmp_path: Path,
) -> None:
    op = {
        "name": "charge",
        "method": "POST",
        "body": {"type": "json", "data": {"amount": "{{checkout.amount}}"}},
    }
    tools = {"tools": [{"name": "charge", "description": "d", "call": "pay.charge"}]}
    spec = write_spec(tmp_path, _document("http://127.0.0.1:9", op, tools))
    with pytest.raises(SpecError) as caught:
        load(spec)
    problem = caught.value.problems[0]
    assert problem.location.line > 0
    assert problem.location.path == "capability.consumes[0].resources[0].operations[0].body"
    assert problem.message == (
        "`{{checkout.amount}}`: no bind namespace or step is called 'checkout', "
        "so this would always render empty"
    )
