"""A Microcks look-alike for tests: OpenAPI 3.x files served by aiohttp on 127.0.0.1.

APIs are mounted where Microcks mounts them, ``/rest/<info.title>/<info.version>`` (spaces as
``+``); for the conformance files title and file stem agree, so the registry is at
``/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2`` and the legacy dockyard at
``/rest/naftiko-shipyard-legacy-dockyard-api/1.0.0-alpha2``.

Dispatch is Microcks' own (OpenAPIImporter + RestInvocationProcessor). On load each response
example gets a *dispatch criteria* from the parameter examples of the same name (URI_PARAMS:
``?k=v`` sorted, URI_PARTS: ``/k=v``, URI_ELEMENTS: both, other dispatchers: none); URI_PARTS
examples without a path-parameter example of their name are dropped, as Microcks drops them. A
request gets the example whose criteria equals its own, else the one *named* like it (SCRIPT),
else the FALLBACK example, else - only without a dispatcher - the first. Without
``x-microcks-operation`` the dispatcher is inferred like Microcks (query: URI_PARAMS, path parts:
URI_PARTS, both: URI_ELEMENTS). Unknown API, path or method: 404 (text). A dispatcher finding
nothing: 400 ``The response <criteria> does not exist!`` as in Microcks, so the files' notFound
examples are never served. String examples (the XML ones) go out verbatim, others as compact
JSON, with ``Content-Type: <media type>;charset=UTF-8``.

The conformance files - operation, dispatcher (rules): examples:
  registry list-ships GET /ships, FALLBACK(URI_PARAMS "status", fallback allShips): allShips
    (criteria "": no or empty status), ?status=active, ?status=maintenance, else allShips
  registry get-ship GET /ships/{imo_number}, URI_PARTS ("imo_number"): /imo_number=IMO-9321483,
    /imo_number=IMO-9456781
  registry create-voyage POST /voyages, FALLBACK(SCRIPT "return 'created'", fallback created):
    201 created, templated with {{ request.body/<field> }}
  registry get-voyage GET /voyages/{voyageId}, URI_PARTS ("voyageId"): /voyageId=VOY-2026-042
  registry list-crew GET /crew, list-cargo GET /cargo: no dispatcher, allCrew / allCargo
  legacy list-vessels GET /vessels, FALLBACK(URI_PARAMS "status", fallback allVessels), XML:
    allVessels, ?status=active, ?status=laid_up
  legacy get-vessel GET /vessels/{vesselCode}, URI_PARTS ("vesselCode"), XML:
    /vesselCode=LEGACY-4012
  legacy list-personnel GET /personnel: no dispatcher, allPersonnel, XML

Groovy is not run: scripts go through a one-rule translator, ``return '<name>'`` (the only script
in the files, create-voyage's); any other script is refused when the file is loaded.
Templates ``{{ a || b }}``: ``request.body``, ``request.body/<JSON pointer>``, ``request.path[i]``,
``request.params[x]``, ``request.headers[x]``, ``now()``/``timestamp()`` (optionally with a Java
date pattern), ``uuid()``/``guid()``/``randomUUID()``; anything else renders empty. Unlike
Microcks, which substitutes into serialised text, JSON examples are rendered value by value, so
echoed strings stay valid JSON. Every request is recorded in ``MockServer.requests``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, unquote_plus

import yaml
from aiohttp import web
from multidict import CIMultiDict

from tests.support.shared import CONFORMANCE_DIR

REGISTRY_OPENAPI = CONFORMANCE_DIR / "microcks" / "naftiko-shipyard-maritime-registry-api.yaml"
LEGACY_OPENAPI = CONFORMANCE_DIR / "microcks" / "naftiko-shipyard-legacy-dockyard-api.yaml"
VERBS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DISPATCHERS = {None, "URI_PARAMS", "URI_PARTS", "URI_ELEMENTS", "SCRIPT", "GROOVY"}
Params = dict[str, list[str]]


class _Loader(yaml.SafeLoader):
    """YAML without the timestamp resolver: unquoted dates stay the strings they are in the file."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class UnsupportedMockFeature(ValueError):
    """The OpenAPI file uses a Microcks feature this mock does not reproduce."""


@dataclass(frozen=True)
class Example:
    name: str
    status: int
    media_type: str
    value: Any
    criteria: str | None


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    dispatcher: str | None  # the root one (inside FALLBACK)
    rules: str
    fallback: str | None
    examples: tuple[Example, ...]
    script: Callable[[], str] | None = None

    def match(self, path: str) -> dict[str, str] | None:
        """Path-parameter values if `path` (decoded, no trailing slash) fits the template."""
        names = re.findall(r"\{([^}]+)\}", self.template)
        pattern = re.sub(r"\\\{[^}]*\\\}", "([^/]+)", re.escape(self.template.rstrip("/")))
        found = re.fullmatch(pattern, path)
        return None if found is None else dict(zip(names, found.groups(), strict=True))


@dataclass(frozen=True)
class MockApi:
    name: str
    version: str
    source: Path
    operations: tuple[Operation, ...]

    @property
    def prefix(self) -> str:
        return f"/rest/{quote(self.name.replace(' ', '+'), safe='+')}/{quote(self.version)}"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # full decoded path, /rest/<api>/<version>/...
    query: str  # raw query string
    headers: CIMultiDict[str]
    body: bytes
    api: str | None = None  # info.title of the API that answered
    operation: str | None = None  # its operationId
    example: str | None = None  # the response example served
    status: int = 404

    @property
    def params(self) -> Params:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MockServer:
    root_url: str
    apis: tuple[MockApi, ...]
    requests: list[RecordedRequest] = field(default_factory=list)

    def api(self, key: str | Path) -> MockApi:
        """The API loaded from file `key` (path, name or stem) or titled `key`."""
        for api in self.apis:
            if isinstance(key, Path) and key.resolve() == api.source:
                return api
            if str(key) in {api.name, api.source.name, api.source.stem}:
                return api
        raise KeyError(f"no mocked API {key!r}; have {[a.name for a in self.apis]}")

    def base_url_for(self, key: str | Path) -> str:
        return self.root_url + self.api(key).prefix

    def requests_to(self, key: str | Path) -> list[RecordedRequest]:
        name = self.api(key).name
        return [r for r in self.requests if r.api == name]


# ----------------------------------------------------------------------------- loading


def _deref(doc: Any, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _mentions(rules: str, key: str) -> bool:
    return re.fullmatch(rf"(?s).*(^|[^-])\b{re.escape(key)}\b([^-]|$).*", rules) is not None


def _build(rules: str, params: Params | None, sep: str) -> str:
    """Microcks' buildFromPartsMap / buildFromParamsMap (sep "/" / "?")."""
    items = sorted((k, v) for k, vs in (params or {}).items() for v in vs)
    return "".join(f"{sep}{k}={v}" for k, v in items if _mentions(rules, k))


def _criteria(
    root: str | None, rules: str, parts: Params | None, query: Params | None
) -> str | None:
    """The dispatch criteria Microcks stores for an example with these parameter examples."""
    if root not in ("URI_PARAMS", "URI_PARTS", "URI_ELEMENTS"):
        return None
    result = "" if root == "URI_PARAMS" else _build(rules.split("??")[0], parts, "/")
    return result + ("" if root == "URI_PARTS" else _build(rules.split("??")[-1], query, "?"))


def _script(script: str) -> Callable[[], str]:
    """The Groovy scripts of the files, translated: only ``return '<example name>'``."""
    found = re.fullmatch(r"""\s*return\s+(['"])([^'"]*)\1\s*;?\s*""", script)
    if found is None:
        raise UnsupportedMockFeature(f"untranslated SCRIPT dispatcher: {script!r}")
    name = found.group(2)
    return lambda: name


def _param_examples(doc: Any, params: list[Any], where: str) -> dict[str, Params]:
    result: dict[str, Params] = {}
    for param in (_deref(doc, p) for p in params):
        if param.get("in") != where:
            continue
        for name, example in (param.get("examples") or {}).items():
            value = _deref(doc, _deref(doc, example).get("value"))
            pairs = value.items() if isinstance(value, dict) else [(param["name"], value)]
            for key, val in pairs:
                vals = val if isinstance(val, list) else [val]
                result.setdefault(name, {}).setdefault(key, []).extend(map(_text, vals))
    return result


def _operation(doc: Any, method: str, template: str, op: Any, shared: list[Any]) -> Operation:
    params = [_deref(doc, p) for p in [*shared, *(op.get("parameters") or [])]]
    query = [p["name"] for p in params if p.get("in") == "query"]
    parts = re.findall(r"\{([^}]+)\}", template)
    outer: str | None
    if "x-microcks-operation" in op:
        outer = op["x-microcks-operation"].get("dispatcher")
        rules = op["x-microcks-operation"].get("dispatcherRules") or ""
    elif query and parts:
        outer, rules = "URI_ELEMENTS", " && ".join(parts) + " ?? " + " && ".join(query)
    elif query:
        outer, rules = "URI_PARAMS", " && ".join(p["name"] for p in params if p["in"] != "path")
    elif parts:
        outer, rules = "URI_PARTS", " && ".join(parts)
    else:
        outer, rules = None, ""
    root, fallback = outer, None
    if outer == "FALLBACK":
        spec = json.loads(rules)
        root, rules = spec.get("dispatcher"), spec.get("dispatcherRules", "")
        fallback = spec["fallback"]
    if root not in DISPATCHERS:
        raise UnsupportedMockFeature(f"dispatcher {root} of {method.upper()} {template}")
    by_path = _param_examples(doc, params, "path")
    by_query = _param_examples(doc, params, "query")
    examples: list[Example] = []
    for code, response in (op.get("responses") or {}).items():
        for media_type, content in (_deref(doc, response).get("content") or {}).items():
            for name, example in (_deref(doc, content.get("examples")) or {}).items():
                if name not in by_path and outer in ("URI_PARTS", "URI_ELEMENTS"):
                    continue  # Microcks registers no such pair
                criteria = _criteria(root, rules, by_path.get(name), by_query.get(name))
                status = int(code) if str(code).isdigit() else 200
                value = _deref(doc, _deref(doc, example).get("value"))
                examples.append(Example(name, status, media_type, value, criteria))
    script = _script(rules) if root in ("SCRIPT", "GROOVY") else None
    op_id = str(op.get("operationId") or f"{method.upper()} {template}")
    return Operation(method.upper(), template, op_id, root, rules, fallback, (*examples,), script)


def load_openapi(path: Path) -> MockApi:
    """Read an OpenAPI 3.x file into the operations/examples a Microcks import would create."""
    resolved = Path(path).resolve()
    return _load(resolved, resolved.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _load(path: Path, _mtime_ns: int) -> MockApi:  # examples are never mutated, so shareable
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    operations = [
        _operation(doc, verb, template, item[verb], item.get("parameters") or [])
        for template, raw in (doc.get("paths") or {}).items()
        for item in [_deref(doc, raw)]
        for verb in VERBS
        if verb in item
    ]
    info = doc["info"]
    return MockApi(str(info["title"]), str(info["version"]), path, tuple(operations))


# ----------------------------------------------------------------------------- answering

_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_JAVA_DATE = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def _function(name: str, args: list[str]) -> str:
    if name in ("now", "timestamp"):
        if not args:
            return str(int(time.time() * 1000))
        pattern = re.sub("|".join(_JAVA_DATE), lambda m: _JAVA_DATE[m.group()], args[0])
        return datetime.now(UTC).strftime(pattern)
    if name in ("uuid", "guid", "randomUUID"):
        return str(uuid.uuid4())
    return ""


@dataclass(frozen=True)
class _Context:
    """What a template can see of the request (Microcks' EvaluableRequest)."""

    body: str
    path: list[str]
    params: dict[str, str]
    headers: CIMultiDict[str]

    def evaluate(self, expression: str) -> str:
        for alternative in expression.split("||"):
            value = self._one(alternative.strip())
            if value:
                return value
        return ""

    def _one(self, expr: str) -> str:
        if expr == "request.body":
            return self.body
        if expr.startswith("request.body/"):
            try:
                node = json.loads(self.body)
            except ValueError:
                return ""
            for raw in expr.removeprefix("request.body/").split("/"):
                token = raw.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and token in node:
                    node = node[token]
                elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    return ""
            return _text(node)
        indexed = re.fullmatch(r"request\.(path|params|headers)\[\s*(.*?)\s*\]", expr)
        if indexed:
            kind, key = indexed.groups()
            if kind == "path":
                return self.path[int(key)] if key.isdigit() and int(key) < len(self.path) else ""
            return (self.params if kind == "params" else self.headers).get(key, "")
        call = re.fullmatch(r"(\w+)\((.*)\)|\$(\w+)", expr)
        if call:
            args = [a.strip() for a in (call.group(2) or "").split(",") if a.strip()]
            return _function(call.group(1) or call.group(3), args)
        return ""  # a context variable: none are ever set here


def _render(value: Any, context: _Context) -> Any:
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: context.evaluate(m.group(1)), value)
    if isinstance(value, list):
        return [_render(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _render(item, context) for key, item in value.items()}
    return value


def _request_criteria(op: Operation, parts: dict[str, str], raw_query: str) -> str | None:
    """Microcks' computeDispatchCriteria for a request."""
    if op.script is not None:
        return op.script()
    if op.dispatcher is None:
        return None
    criteria = ""
    if op.dispatcher in ("URI_PARTS", "URI_ELEMENTS"):
        wanted = {rule.strip() for rule in op.rules.split("??")[0].split("&&")}
        criteria = "".join(f"/{k}={v}" for k, v in sorted(parts.items()) if k in wanted)
    if op.dispatcher in ("URI_PARAMS", "URI_ELEMENTS") and "=" in raw_query:
        pairs = []
        for chunk in raw_query.split("&"):
            bits = chunk.split("=")
            while bits and not bits[-1]:
                bits.pop()  # Java's String.split drops trailing empty strings: "status=" is skipped
            if len(bits) > 1 and unquote_plus(bits[0]) in op.rules:
                pairs.append((unquote_plus(bits[0]), unquote_plus(bits[1])))
        criteria += "".join(f"?{k}={v}" for k, v in sorted(pairs))
    return criteria


def _choose(op: Operation, criteria: str | None, accept: str) -> Example | None:
    def pick(candidates: list[Example]) -> Example | None:
        preferred = [e for e in candidates if accept and e.media_type == accept]
        return next(iter(preferred or candidates), None)

    found = pick([e for e in op.examples if e.criteria == criteria])
    if found is None and criteria is not None:
        found = pick([e for e in op.examples if e.name == criteria])
    if found is None and op.fallback is not None:
        found = pick([e for e in op.examples if e.name == op.fallback])
    if found is None and op.dispatcher is None:
        found = pick(list(op.examples))
    return found


class _Answer(NamedTuple):
    status: int
    text: str
    media_type: str = "text/plain"
    api: str | None = None
    operation: str | None = None
    example: str | None = None


def _answer(apis: Sequence[MockApi], request: web.Request, body: bytes) -> _Answer:
    mount = re.fullmatch(r"/rest/([^/]+)/([^/]+)(/.*)?", request.rel_url.raw_path)
    wanted = (unquote(mount[1]).replace("+", " "), unquote(mount[2])) if mount else None
    api = next((a for a in apis if (a.name, a.version) == wanted), None)
    if api is None or mount is None:
        return _Answer(404, f"No mocked API serves {request.path}")
    resource = unquote((mount[3] or "").replace("+", "%20"))
    candidates = [
        (op, parts)
        for op in api.operations
        if op.method == request.method and (parts := op.match(resource.rstrip("/"))) is not None
    ]
    if not candidates:
        return _Answer(404, f"No operation {request.method} {resource} in {api.name}", api=api.name)
    op, parts = min(candidates, key=lambda c: len(c[1]))  # literal paths win over templates
    criteria = _request_criteria(op, parts, request.rel_url.raw_query_string)
    example = _choose(op, criteria, request.headers.get("Accept", ""))
    if example is None:
        text = f"The response {criteria} does not exist!"
        return _Answer(400, text, api=api.name, operation=op.operation_id)
    context = _Context(
        body.decode("utf-8", "replace"),
        [segment for segment in resource.split("/") if segment],
        {key: request.query.getone(key) for key in request.query},
        CIMultiDict(request.headers),
    )
    text = _text(_render(example.value, context))
    return _Answer(
        example.status, text, example.media_type, api.name, op.operation_id, example.name
    )


def build_mock_app(
    *apis: Path | MockApi, requests: list[RecordedRequest] | None = None
) -> web.Application:
    """An app serving OpenAPI files (or loaded APIs), recording into `requests`."""
    loaded = tuple(a if isinstance(a, MockApi) else load_openapi(a) for a in apis)
    log = requests if requests is not None else []

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = _answer(loaded, request, body)
        query, headers = request.rel_url.raw_query_string, CIMultiDict(request.headers)
        log.append(
            RecordedRequest(
                request.method, request.path, query, headers, body, *answer[3:], answer.status
            )
        )
        content_type = f"{answer.media_type};charset=UTF-8"
        return web.Response(
            status=answer.status, body=answer.text.encode(), headers={"Content-Type": content_type}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


# ----------------------------------------------------------------------------- serving


@asynccontextmanager
async def serve_openapi_mock(*openapi_files: Path) -> AsyncIterator[MockServer]:
    """Serve the files on 127.0.0.1:<ephemeral port> in the running event loop."""
    apis = tuple(load_openapi(path) for path in openapi_files)
    requests: list[RecordedRequest] = []
    runner = web.AppRunner(build_mock_app(*apis, requests=requests), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = int(runner.addresses[0][1])
        yield MockServer(f"http://127.0.0.1:{port}", apis, requests)
    finally:
        await runner.cleanup()


@contextmanager
def serve_openapi_mock_in_thread(
    *openapi_files: Path, timeout: float = 10.0
) -> Iterator[MockServer]:
    """`serve_openapi_mock` on its own event loop in a background thread, for synchronous tests."""
    ready = threading.Event()
    servers: list[MockServer] = []
    errors: list[BaseException] = []
    control: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        control.append((asyncio.get_running_loop(), stop))
        async with serve_openapi_mock(*openapi_files) as server:
            servers.append(server)
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="microcks-mock", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError(f"mock server for {openapi_files} did not start")
    if not servers:
        thread.join(timeout)
        raise errors[0] if errors else RuntimeError("mock server did not start")
    try:
        yield servers[0]
    finally:
        loop, stop = control[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("mock server did not stop")
        if errors:
            raise errors[0]


def point_at_mock(data: Any, mock: MockServer) -> None:
    """Every tutorial `baseUri` → the mock API with the same Microcks path (in place)."""
    if isinstance(data, dict):
        base = data.get("baseUri")
        if isinstance(base, str) and "/rest/" in base:
            api = base.split("/rest/", 1)[1].split("/", 1)[0]
            key = REGISTRY_OPENAPI if "registry" in api else LEGACY_OPENAPI
            data["baseUri"] = mock.base_url_for(key)
        for value in data.values():
            point_at_mock(value, mock)
    elif isinstance(data, list):
        for item in data:
            point_at_mock(item, mock)
