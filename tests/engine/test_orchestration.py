"""Orchestration: a failing step stops the unit; steps read their format; script steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from naftiko.engine.metrics import Metrics
from naftiko.errors import InputError, SpecError
from tests.support.engine_harness import gateway, plan_for, write_spec
from tests.support.transport import Upstream, recording_upstream, scripted

ANSWERS = {
    "/ships/NOPE": (404, b'{"message": "no ship NOPE"}', "application/json"),
    "/ships/S1": (200, b'{"imo": "S1", "name": "Aurora"}', "application/json"),
    "/crew": (200, b'[{"id": 1, "active": true}, {"id": 2, "active": false}]', "application/json"),
    "/manifest": (200, b"<m><item><id>7</id></item><item><id>8</id></item></m>", "application/xml"),
    "/broken": (500, b"database down", "text/plain"),
}


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return recording_upstream(scripted(ANSWERS))


def _spec(folder: Path, base: str, steps: list[dict[str, Any]], **extra: Any) -> Path:
    ops = [
        {"name": "get-ship", "method": "GET", "path": "/ships/{{imo}}"},
        {"name": "get-crew", "method": "GET", "path": "/crew"},
        {"name": "broken", "method": "GET", "path": "/broken"},
        {"name": "manifest", "method": "GET", "path": "/manifest", "outputRawFormat": "xml"},
    ]
    tool = {
        "name": "voyage",
        "description": "d",
        "inputParameters": [{"name": "imo", "type": "string", "required": False}],
        "steps": steps,
        "mappings": extra.pop("mappings", [{"targetName": "out", "value": "$.last"}]),
    }
    document = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [
                *extra.pop("exposes", []),
                {"type": "mcp", "port": 0, "namespace": "fleet", "tools": [tool]},
            ],
            "consumes": [
                {
                    "type": "http",
                    "namespace": "reg",
                    "baseUri": base,
                    "resources": [{"name": "r", "path": "/", "operations": ops}],
                }
            ],
        },
    }
    return write_spec(folder, document)


def _call(name: str, op: str, **with_: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"type": "call", "name": name, "call": f"reg.{op}"}
    if with_:
        step["with"] = with_
    return step


async def test_a_step_whose_upstream_answers_404_stops_the_orchestration_and_names_the_step(
    upstream: Upstream, tmp_path: Path
) -> None:
    steps = [_call("ship", "get-ship", imo="{{imo}}"), _call("last", "get-crew")]
    upstream[1].requests.clear()
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {"imo": "NOPE"})
    assert (result.status, result.error, result.content_type) == (
        404,
        True,
        "application/problem+json",
    )
    assert json.loads(result.raw or b"") == {
        "type": "about:blank",
        "title": "upstream error",
        "status": 404,
        "detail": "step 'ship' failed: no ship NOPE",
        "step": "ship",
        "upstream": {"message": "no ship NOPE"},
    }
    assert [r.path for r in upstream[1].requests] == ["/ships/NOPE"]


async def test_a_step_whose_upstream_answers_500_in_text_passes_the_status_and_text(
    upstream: Upstream, tmp_path: Path
) -> None:
    steps = [_call("b", "broken"), _call("last", "get-crew")]
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.status == 500
    assert json.loads(result.raw or b"")["detail"] == "step 'b' failed: database down"


async def test_a_step_reads_its_response_by_the_operation_output_format(
    upstream: Upstream, tmp_path: Path
) -> None:
    steps = [_call("last", "manifest")]
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.body == {"out": {"item": [{"id": "7"}, {"id": "8"}]}}


async def test_each_step_that_runs_is_timed_by_its_type_and_namespace_and_none_after_a_failure(
    upstream: Upstream, tmp_path: Path
) -> None:
    lookup = {
        "type": "lookup",
        "name": "first",
        "index": "crew",
        "match": "id",
        "lookupValue": "1",
        "outputParameters": ["active"],
    }
    steps = [_call("crew", "get-crew"), lookup, _call("b", "broken"), _call("last", "get-crew")]
    metrics = Metrics()
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        gw.engine.observe(None, metrics)
        result = await gw.call(gw.tool("voyage"), {})
    assert result.status == 500
    prefix = "naftiko_step_duration_seconds_count{"
    counts = {
        line[len(prefix) :].rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in metrics.prometheus().splitlines()
        if line.startswith(prefix)
    }
    assert counts == {
        'naftiko_namespace="reg",step_type="call"}': 2.0,
        'naftiko_namespace="fleet",step_type="lookup"}': 1.0,
    }


# ------------------------------------------------------------------ script steps


def _scripts(folder: Path, **files: str) -> Path:
    scripts = folder / "scripts"
    (scripts / "lib").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (scripts / name.replace("__", "/")).write_text(text)
    return scripts


def _script_step(location: Path, file: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "script",
        "name": "last",
        "language": "javascript",
        "location": location.as_uri(),
        "file": file,
        **extra,
    }


async def test_a_script_step_sees_earlier_step_outputs_and_its_result_is_mapped(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(
        tmp_path,
        lib__util="function active(rows) {"
        " return rows.filter(function (r) { return r.active; }); }",
        filter="result = { ids: active(context.crew).map(function (r) { return r.id; }),"
        " label: context.label, imo: context.imo };",
    )
    steps = [
        _call("crew", "get-crew"),
        _script_step(scripts, "filter", dependencies=["lib/util"], **{"with": {"label": "L"}}),
    ]
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {"imo": "S1"})
    assert result.body == {"out": {"ids": [1], "label": "L", "imo": "S1"}}


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("while (true) {}", "time limit exceeded"),
        ("var a = []; while (true) { a.push(new Array(100000).fill(1)); }", "memory limit"),
        ("result = require('fs');", "ReferenceError"),
        ("result = process.env;", "ReferenceError"),
        ("result = fetch('http://127.0.0.1/');", "ReferenceError"),
    ],
)
async def test_a_script_can_neither_run_forever_nor_exhaust_memory_nor_reach_the_host(
    upstream: Upstream, tmp_path: Path, source: str, reason: str
) -> None:
    scripts = _scripts(tmp_path, bad=source)
    spec = _spec(tmp_path, upstream[0], [_script_step(scripts, "bad")])
    async with gateway(
        spec, {"NAFTIKO_SCRIPTING": "timeout=200,memory=8388608"}, transport=upstream[2]
    ) as gw:
        with pytest.raises(InputError) as caught:
            await gw.call(gw.tool("voyage"), {})
    assert caught.value.field == "last"
    assert reason in caught.value.message


async def test_calls_do_not_share_script_state(upstream: Upstream, tmp_path: Path) -> None:
    scripts = _scripts(tmp_path, count="var n = (typeof n === 'number' ? n : 0) + 1; result = n;")
    spec = _spec(tmp_path, upstream[0], [_script_step(scripts, "count")])
    async with gateway(spec, transport=upstream[2]) as gw:
        first = await gw.call(gw.tool("voyage"), {})
        second = await gw.call(gw.tool("voyage"), {})
    assert first.body == second.body == {"out": 1}


def _refusal(spec: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        plan_for(spec, env)
    location = caught.value.location
    assert location.line > 0
    return f"{location.path}: {caught.value.problems[0].message}"


async def test_a_python_script_computes_over_the_context_in_a_confined_process(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(
        tmp_path,
        analyze="import statistics\n"
        "ids = [row['id'] for row in context['crew']]\n"
        "result = {'mean': statistics.mean(ids), 'count': len(ids)}\n",
    )
    steps = [_call("crew", "get-crew"), {**_script_step(scripts, "analyze"), "language": "python"}]
    async with gateway(_spec(tmp_path, upstream[0], steps), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.body == {"out": {"mean": 1.5, "count": 2}}


ESCAPES = """
attempts = {
    "read a file": lambda: open("/etc/hostname").read(),
    "list a folder": lambda: __import__("os").listdir("/"),
    "fork": lambda: __import__("os").fork(),
    "run a program": lambda: __import__("subprocess").run(["id"]),
    "open a socket": lambda: __import__("socket").socket(),
    "signal the gateway": lambda: __import__("os").kill(__import__("os").getppid(), 9),
}
result = {}
for what, attempt in attempts.items():
    try:
        attempt()
        result[what] = "done"
    except Exception as exc:
        result[what] = type(exc).__name__
"""


async def test_a_python_script_can_reach_neither_files_nor_network_nor_processes(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(tmp_path, escape=ESCAPES)
    step = {**_script_step(scripts, "escape"), "language": "python"}
    async with gateway(_spec(tmp_path, upstream[0], [step]), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.body == {
        "out": {
            "read a file": "PermissionError",
            "list a folder": "PermissionError",
            "fork": "PermissionError",
            "run a program": "PermissionError",
            "open a socket": "ModuleNotFoundError",
            "signal the gateway": "PermissionError",
        }
    }


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("x = 0\nwhile True:\n    x += 1", "time limit exceeded"),
        ("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))", "memory limit"),
        # The gateway kept all a child wrote: this grew it by a gigabyte a second.
        (
            "import sys\nwhile True:\n    sys.__stdout__.write('x' * 10**6)",
            "its result is larger than its memory limit",
        ),
        ("import sys\nsys.exit(0)", "it ended without a result"),
    ],
)
async def test_a_python_script_is_stopped_at_its_time_and_memory_limits(
    upstream: Upstream, tmp_path: Path, source: str, reason: str
) -> None:
    scripts = _scripts(tmp_path, bad=source)
    step = {**_script_step(scripts, "bad"), "language": "python"}
    spec = _spec(tmp_path, upstream[0], [step])
    async with gateway(
        spec, {"NAFTIKO_SCRIPTING": "timeout=1000,memory=33554432"}, transport=upstream[2]
    ) as gw:
        with pytest.raises(InputError) as caught:
            await gw.call(gw.tool("voyage"), {})
    assert caught.value.field == "last"
    assert reason in caught.value.message


async def test_what_a_python_script_prints_does_not_spoil_its_result(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(tmp_path, chatty="print('working...')\nresult = {'done': True}\n")
    step = {**_script_step(scripts, "chatty"), "language": "python"}
    async with gateway(_spec(tmp_path, upstream[0], [step]), transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.body == {"out": {"done": True}}


def test_a_groovy_script_is_refused_at_start_at_its_step(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(tmp_path, analyze="result = 1")
    step = {**_script_step(scripts, "analyze"), "language": "groovy"}
    assert _refusal(_spec(tmp_path, upstream[0], [step])).startswith(
        "capability.exposes[0].tools[0].steps[0]: script language 'groovy' is not supported"
    )


def test_a_missing_script_file_is_refused_at_start(upstream: Upstream, tmp_path: Path) -> None:
    scripts = _scripts(tmp_path)
    spec = _spec(tmp_path, upstream[0], [_script_step(scripts, "nope.js")])
    assert "cannot read script file 'nope.js'" in _refusal(spec)


def test_a_script_path_cannot_climb_out_of_its_location(upstream: Upstream, tmp_path: Path) -> None:
    scripts = _scripts(tmp_path)
    spec = _spec(tmp_path, upstream[0], [_script_step(scripts, "../capability.yaml")])
    assert "is not a safe relative path" in _refusal(spec)


def test_scripting_disabled_by_the_environment_refuses_script_steps_at_start(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(tmp_path, ok="result = 1")
    spec = _spec(tmp_path, upstream[0], [_script_step(scripts, "ok")])
    assert "script steps are disabled" in _refusal(spec, {"NAFTIKO_SCRIPTING": "false"})


async def test_management_scripting_sets_the_default_language_and_location(
    upstream: Upstream, tmp_path: Path
) -> None:
    scripts = _scripts(tmp_path, ok="result = 42")
    control = {
        "type": "control",
        "port": 0,
        "management": {
            "scripting": {
                "enabled": True,
                "defaultLanguage": "javascript",
                "defaultLocation": scripts.as_uri(),
                "allowedLanguages": ["javascript"],
            }
        },
    }
    steps = [{"type": "script", "name": "last", "file": "ok"}]
    spec = _spec(tmp_path, upstream[0], steps, exposes=[control])
    async with gateway(spec, {"NAFTIKO_SCRIPTING": "false"}, transport=upstream[2]) as gw:
        result = await gw.call(gw.tool("voyage"), {})
    assert result.body == {"out": 42}
