"""Serve the published specs of ../shared/corpus in-process against one recording loopback
upstream, call every REST operation and MCP tool with arguments synthesised from what they
advertise, and judge what the upstream received.

Each spec is copied (with its folder, so imports and bind files resolve) and its `baseUri`s
are pointed at the recorder, under `/<namespace>` plus the original base path. The runtime is
built exactly as `naftiko run` builds it (`runtime.build`: load, binds, plan, start-up checks,
adapters), lifespans entered as `serve()` does, and each REST operation and MCP tool is called
through its adapter's ASGI app; only the listening sockets are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx2 as httpx
import yaml
from aiohttp import web

from naftiko.engine.exposed import Guard, Route
from naftiko.engine.plan import Action, CallStepPlan, Operation, Plan
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
from naftiko.runtime import build
from naftiko.settings import Settings
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


def _place(node: Any, steps: list[str | int], leaf: Any = "x") -> Any:
    if not steps:
        return node if node not in ({}, None) else leaf
    head, rest = steps[0], steps[1:]
    if isinstance(head, int):
        items = node if isinstance(node, list) and node else [{}]
        items[0] = _place(items[0], rest, leaf)
        return items
    container = node if isinstance(node, dict) else {}
    container[head] = _place(container.get(head, {}), rest, leaf)
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


def serves_adapters(capability: Capability) -> bool:
    return any(
        isinstance(a, ExposesRest) or (isinstance(a, ExposesMcp) and a.transport != "stdio")
        for a in capability.body.exposes
    )


async def run_spec(name: str, spec: Path, upstream: Upstream, report: Report) -> None:
    """`naftiko run`'s build, adapters' lifespans entered, every unit called through its
    adapter's ASGI app (REST over HTTP, MCP as JSON-RPC `tools/call`)."""
    try:
        runtime = build([spec], Settings(), environment(spec))
    except NaftikoError as exc:
        report.refused[name] = _relative(str(exc), spec)
        return
    report.started.append(name)
    plan = runtime.engines[0].plan
    async with AsyncExitStack() as stack:
        for engine in runtime.engines:
            await engine.start()
            stack.push_async_callback(engine.close)
        for served in runtime.served:
            await stack.enter_async_context(served.adapter.lifespan())
        for served in runtime.served:
            if served.kind not in ("rest", "mcp"):
                continue
            transport = httpx.ASGITransport(app=served.adapter.app)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport,
                    base_url="http://127.0.0.1:8080",
                    headers=_credentials(served.adapter.plan.guard),
                    params=_query_credentials(served.adapter.plan.guard),
                )
            )
            units = (
                [(f"rest {r.method} {r.path}", r) for r in served.adapter.plan.routes]
                if served.kind == "rest"
                else [(f"mcp {n}", a) for n, a in served.adapter.plan.tools.items()]
            )
            for unit, item in units:
                if isinstance(item, Route) and item.forward_namespace is not None:
                    continue
                action = item.action if isinstance(item, Route) else item
                args = arguments(action)
                upstream.answer = document(action)
                upstream.recorder.requests.clear()
                if isinstance(item, Route):
                    outcome, detail = await _rest_call(client, item, args)
                else:
                    outcome, detail = await _mcp_call(client, unit[4:], args)
                if outcome == "ok":
                    outcome, detail = judge(plan, action, args, upstream.recorder.requests)
                report.calls.append(Call(name, unit, outcome, detail))


async def _rest_call(
    client: httpx.AsyncClient, route: Route, args: dict[str, Any]
) -> tuple[str, str]:
    path = route.path if route.path.startswith("/") else "/" + route.path
    by_location = {i.name: i.location for i in route.action.inputs}
    body_paths = {i.name: i.body_path.source for i in route.action.inputs if i.body_path}
    query: list[tuple[str, str | int | float | bool | None]] = []
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, value in args.items():
        location = by_location.get(name, "argument")
        if location == "path" or any(var == name for _, var in route.variables):
            text = quote(str(value), safe="")
            path = path.replace("{{" + name + "}}", text).replace("{" + name + "}", text)
        elif location == "header":
            headers[name] = value if isinstance(value, str) else json.dumps(value)
        elif location == "cookie":
            headers["Cookie"] = f"{name}={quote(str(value), safe='')}"
        elif location == "query" or (location == "argument" and route.method in ("GET", "DELETE")):
            items = value if isinstance(value, list) else [value]
            query += [(name, v if isinstance(v, str) else json.dumps(v)) for v in items]
        elif name in body_paths:
            body = _place(body, _steps(body_paths[name]), value)
        else:
            body[name] = value
    response = await client.request(
        route.method, path, params=query, headers=headers, json=body if body else None
    )
    if response.status_code >= 400:
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        return f"error:{response.status_code}", detail[:200]
    return "ok", ""


def _credentials(guard: Guard | None) -> dict[str, str]:
    """What a legitimate caller of an adapter protected by `guard` sends."""
    if guard is None:
        return {}
    if guard.kind == "bearer":
        return {"Authorization": f"Bearer {guard.secret}"}
    if guard.kind == "basic":
        pair = base64.b64encode(f"{guard.username}:{guard.secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {guard.key: guard.secret} if guard.placement == "header" else {}


def _query_credentials(guard: Guard | None) -> dict[str, str]:
    if guard is not None and guard.kind == "apikey" and guard.placement == "query":
        return {guard.key: guard.secret}
    return {}


async def _mcp_call(client: httpx.AsyncClient, tool: str, args: dict[str, Any]) -> tuple[str, str]:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": args},
    }
    response = await client.post("/mcp", json=message)
    if response.status_code != 200:
        return f"error:{response.status_code}", response.text[:200]
    reply = response.json()
    if "error" in reply:
        return "error:jsonrpc", str(reply["error"].get("message"))[:200]
    result: dict[str, Any] = reply["result"]
    if result.get("isError"):
        return "error:isError", str(result.get("content", [{}])[0].get("text", ""))[:200]
    return "ok", ""


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
            await run_spec(name, spec, upstream, report)

    asyncio.run(main())
    return report
