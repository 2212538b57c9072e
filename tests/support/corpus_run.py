"""Serve the published specs of ../shared/corpus in-process against one recording loopback
upstream, call every REST operation and MCP tool with arguments synthesised from what they
advertise, and judge what the upstream received.

Each spec is copied (with its folder, so imports and bind files resolve) and its `baseUri`s
are pointed at the recorder, under `/<namespace>` plus the original base path. Plans are built
exactly as `naftiko run` builds them (load → binds → plan → start-up checks → adapter plans);
actions are invoked through `Engine.invoke`, the one path every adapter uses.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from aiohttp import web

from naftiko.engine.engine import Engine
from naftiko.engine.exposed import mcp_plan, rest_plan
from naftiko.engine.plan import Action, CallStepPlan, Operation, Plan, build_plan
from naftiko.engine.startup import check_startup
from naftiko.errors import NaftikoError
from naftiko.model import (
    ApiKeyAuth,
    AwsSigV4Auth,
    BasicAuth,
    BearerAuth,
    Capability,
    ExposesMcp,
    ExposesRest,
    OutputParameter,
)
from naftiko.spec.bindings import resolve
from naftiko.spec.loader import load
from tests.support.servers import Recorded, Recorder

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
SAMPLES = {
    "xml": (b"<root><item><id>1</id></item></root>", "application/xml"),
    "csv": (b"id,name\n1,x\n", "text/csv"),
    "tsv": (b"id\tname\n1\tx\n", "text/tab-separated-values"),
    "psv": (b"id|name\n1|x\n", "text/plain"),
    "yaml": (b"id: 1\n", "application/yaml"),
    "html": (b"<table><tr><th>id</th></tr><tr><td>1</td></tr></table>", "text/html"),
    "markdown": (b"# Title\n\ntext\n", "text/markdown"),
}


@dataclass
class Call:
    spec: str
    unit: str  # "rest GET /path" or "mcp tool-name"
    outcome: str  # ok | failed class
    detail: str = ""


@dataclass
class Report:
    started: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)


class Upstream:
    """Records everything; answers every request with the document of the current call."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.answer: tuple[int, bytes, str] = (200, b"{}", "application/json")

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            await self.recorder.record(request)
            status, body, content_type = self.answer
            return web.Response(status=status, body=body, content_type=content_type)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


def copy_corpus(corpus: Path, folder: Path, upstream: str, scripts: Path) -> Path:
    """The corpus, each consumed `baseUri` on the recorder (and script locations on `scripts`)."""
    target = folder / "corpus"
    shutil.copytree(corpus, target)
    for path in [*target.rglob("*.yaml"), *target.rglob("*.yml")]:
        text = path.read_text(encoding="utf-8")
        if "baseUri" not in text and "type: script" not in text:
            continue
        try:
            data = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError:
            continue
        if _rewrite(data, upstream, scripts.as_uri()):
            path.write_text(yaml.dump(data, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    return target


def _rewrite(node: Any, upstream: str, scripts: str) -> bool:
    changed = False
    if isinstance(node, dict):
        if isinstance(node.get("baseUri"), str) and "namespace" in node:
            node["baseUri"] = _local_base(node["baseUri"], str(node["namespace"]), upstream)
            changed = True
        if node.get("type") == "script" and "location" in node:
            node["location"] = scripts
            changed = True
        if isinstance(node.get("scripting"), dict) and "defaultLocation" in node["scripting"]:
            node["scripting"]["defaultLocation"] = scripts
            changed = True
        for value in node.values():
            changed = _rewrite(value, upstream, scripts) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _rewrite(value, upstream, scripts) or changed
    return changed


def _local_base(base: str, namespace: str, upstream: str) -> str:
    """`https://api.x.com/v1` → `<upstream>/<namespace>/v1`; a host (or a whole base) that is a
    template is dropped: the recorder stands in for every host."""
    _, _, rest = base.partition("://")
    path = rest.partition("/")[2] if rest else re.sub(r"^\{\{[^}]*\}\}/?", "", base)
    return f"{upstream}/{namespace}" + (f"/{path}" if path else "")


def environment(spec: Path) -> dict[str, str]:
    """A value for every upper-case variable the spec (or its folder's files) names."""
    names: set[str] = set()
    for path in [spec, *spec.parent.rglob("*.y*ml")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        names.update(m.group(1) for m in _VARIABLE.finditer(text))
        names.update(re.findall(r":\s*['\"]?([A-Z][A-Z0-9_]{2,})['\"]?\s*$", text, re.M))
    names |= {name.rsplit(".", 1)[1] for name in names if "." in name}
    env = {name: f"cred-{name.lower()}" for name in names if name.upper() == name}
    env["NAFTIKO_SCRIPTING"] = "true"
    return env


def arguments(action: Action) -> dict[str, Any]:
    """A value for every advertised input, from its JSON schema; strings carry their name so
    the upstream request can be searched for them."""
    schema = action.input_schema
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        out[name] = _value(name, prop)
    return out


def _value(name: str, prop: dict[str, Any]) -> Any:
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type", "string")
    if kind in ("number", "integer"):
        return 7
    if kind == "boolean":
        return True
    if kind == "array":
        return [f"a-{_slug(name)}"]
    if kind == "object":
        return {"k": f"o-{_slug(name)}"}
    return f"v-{_slug(name)}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name)[:24] or "x"


def document(action: Action) -> tuple[int, bytes, str]:
    """An upstream answer shaped by the unit's own output JSONPaths."""
    op = _first_operation(action)
    if op is not None and op.fmt in SAMPLES:
        body, content_type = SAMPLES[op.fmt]
        return 200, body, content_type
    doc: Any = {}
    for path in _paths(action):
        doc = _place(doc, _steps(path))
    return 200, json.dumps(doc).encode(), "application/json"


def _first_operation(action: Action) -> Operation | None:
    unit = action.delegate or action
    if unit.operation is not None:
        return unit.operation
    calls = [s for s in unit.steps if isinstance(s, CallStepPlan)]
    return calls[-1].operation if calls else None


def _paths(action: Action) -> list[str]:
    out: list[str] = []
    units = [action, *([action.delegate] if action.delegate else [])]
    for unit in units:
        for param in unit.outputs:
            _output_paths(param, out)
        for step in unit.steps:
            if isinstance(step, CallStepPlan):
                out += [
                    str(o.value) for o in step.operation.outputs if str(o.value).startswith("$")
                ]
    return out


def _output_paths(param: OutputParameter, out: list[str]) -> None:
    if param.mapping and param.mapping.startswith("$"):
        out.append(param.mapping)
    for child in (param.properties or {}).values():
        _output_paths(child, out)
    if param.items is not None:
        _output_paths(param.items, out)


_TOKEN = re.compile(r"\.([A-Za-z0-9_\-@$]+)|\['([^']+)'\]|\[(\d+|\*)\]")


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for match in _TOKEN.finditer(path.strip()[1:]):
        name, quoted, index = match.groups()
        if index is not None:
            steps.append(0)
        else:
            steps.append(name or quoted)
    return steps


def _place(node: Any, steps: list[str | int]) -> Any:
    if not steps:
        return node if node not in ({}, None) else "x"
    head, rest = steps[0], steps[1:]
    if isinstance(head, int):
        items = node if isinstance(node, list) and node else [{}]
        items[0] = _place(items[0], rest)
        return items
    container = node if isinstance(node, dict) else {}
    container[head] = _place(container.get(head, {}), rest)
    return container


# ------------------------------------------------------------------ judging one call


def judge(
    plan: Plan, action: Action, args: dict[str, Any], seen: list[Recorded]
) -> tuple[str, str]:
    """(class, detail) of what the upstream received; `ok` when nothing is wrong."""
    ops = _operations(action)
    if not ops:
        return "ok", "no upstream call (mock)"
    if not seen:
        return "not-sent", "the upstream received nothing"
    for request in seen:
        text = " ".join(
            [request.raw_path, unquote(request.query), *request.headers.values()]
        ) + request.body.decode("utf-8", errors="replace")
        if "{{" in text:
            return "unrendered-template", _excerpt(text, "{{")
        if re.search(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@%/]", request.raw_path):
            return "path-not-encoded", request.raw_path
        content_type = request.headers.get("Content-Type", "")
        if request.body and "json" in content_type:
            try:
                json.loads(request.body)
            except ValueError:
                return "invalid-json-body", request.body.decode(errors="replace")[:120]
    methods = sorted({r.method for r in seen})
    wanted = sorted({op.method for op in ops})
    if not set(methods) <= set(wanted):
        return "wrong-method", f"sent {methods}, spec says {wanted}"
    missing_auth = _missing_credentials(plan, ops, seen)
    if missing_auth:
        return "credentials-missing", missing_auth
    lost = _undelivered(args, seen)
    unwired = [name for name in lost if not _wired(name, action, ops)]
    if unwired:
        return "spec:input-not-wired", ", ".join(unwired)
    if lost:
        return "argument-not-delivered", ", ".join(lost)
    return "ok", ""


def _wired(name: str, action: Action, ops: list[Operation]) -> bool:
    """Whether the spec gives argument `name` a place in a consumed request: a variable, a
    parameter or the body of an operation, directly or through a `with` key."""
    names = {_norm(name)}
    for unit in (action, action.delegate):
        for key, value in unit.with_ if unit else ():
            if name in str(getattr(value, "source", getattr(value, "name", value))):
                names.add(_norm(key))
    places: set[str] = set()
    for op in ops:
        places.update(_norm(v.name) for v in op.url.variables)
        for param in op.params:
            places.add(_norm(param.name))
            if param.value is not None:
                places.update(_norm(v.name) for v in param.value.variables)
        if op.body is not None:
            text = json.dumps(op.body.data) + (op.body.template.source if op.body.template else "")
            places.update(_norm(m) for m in _VARIABLE.findall(text))
    return bool(names & places)


def _norm(name: str) -> str:
    return name.replace("-", "_").split(".")[-1]


def _operations(action: Action) -> list[Operation]:
    unit = action.delegate or action
    if unit.operation is not None and unit.mode in ("call", "ref"):
        return [unit.operation]
    return [s.operation for s in unit.steps if isinstance(s, CallStepPlan)]


def _missing_credentials(plan: Plan, ops: list[Operation], seen: list[Recorded]) -> str:
    for request in seen:
        namespace = request.path.split("/")[1] if request.path.count("/") else ""
        client = plan.clients.get(namespace)
        auth = client.authentication if client else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = unquote(request.query)
        if isinstance(auth, BearerAuth) and len(headers.get("authorization", "")) < 9:
            return f"{namespace}: no bearer token"
        if isinstance(auth, BasicAuth) and not headers.get("authorization", "").startswith(
            "Basic "
        ):
            return f"{namespace}: no basic credentials"
        if isinstance(auth, AwsSigV4Auth) and "AWS4-HMAC-SHA256" not in headers.get(
            "authorization", ""
        ):
            return f"{namespace}: no SigV4 signature"
        if isinstance(auth, ApiKeyAuth) and auth.key:
            present = (
                f"{auth.key}=" in query
                if auth.placement == "query"
                else bool(headers.get(auth.key.lower()))
            )
            if not present:
                return f"{namespace}: no API key {auth.key!r} ({auth.placement})"
    return ""


def _undelivered(args: dict[str, Any], seen: list[Recorded]) -> list[str]:
    blob = " ".join(
        unquote(r.raw_path)
        + " "
        + unquote(r.query.replace("+", " "))
        + " "
        + " ".join(unquote(v) for v in r.headers.values())
        + " "
        + r.body.decode("utf-8", errors="replace")
        for r in seen
    )
    lost = []
    for name, value in args.items():
        markers = [value] if isinstance(value, str) else []
        if isinstance(value, list):
            markers = [v for v in value if isinstance(v, str)]
        if isinstance(value, dict):
            markers = [v for v in value.values() if isinstance(v, str)]
        markers = [m for m in markers if m.startswith(("v-", "a-", "o-"))]
        if markers and not any(m in blob for m in markers):
            lost.append(name)
    return lost


def _excerpt(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 40) : at + 60]


# ------------------------------------------------------------------ running the corpus


def units(plan: Plan) -> list[tuple[str, Action]]:
    found: list[tuple[str, Action]] = []
    for i, exposed in enumerate(plan.capability.body.exposes):
        if isinstance(exposed, ExposesRest):
            for route in rest_plan(plan, i, exposed).routes:
                if route.forward_namespace is None:
                    found.append((f"rest {route.method} {route.path}", route.action))
        elif isinstance(exposed, ExposesMcp) and exposed.transport != "stdio":
            for name, action in mcp_plan(plan, i, exposed).tools.items():
                found.append((f"mcp {name}", action))
    return found


def serves_adapters(capability: Capability) -> bool:
    return any(
        isinstance(a, ExposesRest) or (isinstance(a, ExposesMcp) and a.transport != "stdio")
        for a in capability.body.exposes
    )


async def run_spec(
    name: str, spec: Path, capability: Capability, upstream: Upstream, report: Report
) -> None:
    try:
        plan = build_plan(capability, resolve(capability, environment(spec)))
        check_startup(plan)
        found = units(plan)
    except NaftikoError as exc:
        report.refused[name] = _relative(str(exc), spec)
        return
    report.started.append(name)
    engine = Engine(plan)
    await engine.start()
    try:
        for unit, action in found:
            args = arguments(action)
            upstream.answer = document(action)
            upstream.recorder.requests.clear()
            try:
                result = await engine.invoke(action, args)
            except NaftikoError as exc:
                outcome, detail = f"error:{type(exc).__name__}", str(exc)[:200]
            else:
                if result.error:
                    outcome, detail = "error:upstream-status", result.text()[:200]
                else:
                    outcome, detail = judge(plan, action, args, upstream.recorder.requests)
            report.calls.append(Call(name, unit, outcome, detail))
    finally:
        await engine.close()


def _relative(text: str, spec: Path) -> str:
    return text.replace(str(spec.parent) + "/", "")


def run_corpus(specs: list[tuple[str, Path]], upstream: Upstream) -> Report:
    report = Report()

    async def main() -> None:
        for name, spec in specs:
            try:
                capability = load(spec)
            except NaftikoError as exc:
                report.refused[name] = _relative(str(exc), spec)
                continue
            if not serves_adapters(capability):
                report.skipped[name] = "no REST or HTTP MCP adapter"
                continue
            await run_spec(name, spec, capability, upstream, report)

    asyncio.run(main())
    return report


def relative_url(url: str) -> str:
    return urlsplit(url).path
