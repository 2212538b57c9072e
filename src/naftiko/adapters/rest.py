"""REST adapter: the routes of a `type: rest` adapter, generated from the spec."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Collection, Coroutine
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

import naftiko.safejson as safejson
from naftiko.adapters.auth_gate import Gate
from naftiko.adapters.common import OPERATION, error_response, problem
from naftiko.adapters.limits import REQUEST_BODY, Streamed, problem_refusal
from naftiko.adapters.openapi import openapi_document
from naftiko.adapters.rest_routes import RouteTable
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import RestPlan, Route
from naftiko.engine.inputs import Input
from naftiko.engine.request import without_parameter
from naftiko.engine.result import Result
from naftiko.errors import InputError, NaftikoError
from naftiko.expressions import norm

_OPENAPI_METHODS = ("GET",)


class RestAdapter:
    """One `type: rest` adapter: spec routes → engine calls → JSON, problem+json or a stream.

    Served behind `edge.Edge` (which has already answered 404/405/OPTIONS, checked the gate
    and read the body), so only routing and rendering remain here. Starlette's Request and
    Response types are used without its Router: every route is a spec path matched here.
    """

    kind = "rest"
    refuse = staticmethod(problem_refusal)

    def __init__(self, plan: RestPlan, engine: Engine) -> None:
        self.plan = plan
        self.engine = engine
        self.namespace = plan.namespace
        self._openapi = json.dumps(openapi_document(plan)).encode()
        self.gate = Gate(plan.guard, engine.upstreams)
        self._table = RouteTable(plan.routes)
        # What `_arguments` reads of each route, worked out once (keyed by identity: the
        # routes live as long as the plan, and hashing a frozen Route hashes its action).
        self._inputs = {id(route): _Inputs(route) for route in plan.routes}
        # The adapter's own API key, when callers send it in the query: a forward passes the
        # rest of the query on, never the gateway's inbound credential (SECURITY.md 7).
        guard = plan.guard
        self._own_key = (
            guard.key if guard and guard.kind == "apikey" and guard.placement == "query" else None
        )

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    def methods_at(self, path: str) -> Collection[str]:
        """The methods a raw path answers (the edge's 404/405/OPTIONS and CORS preflights)."""
        if path == "/openapi.json":
            return _OPENAPI_METHODS
        return self._table.methods_at(path)

    def header_inputs(self) -> frozenset[str]:
        """Every request header the spec reads (CORS preflights)."""
        return frozenset(
            spec.name
            for route in self.plan.routes
            for spec in route.action.caller_inputs
            if spec.location == "header"
        ) | frozenset(route_header for r in self.plan.routes for route_header in r.trusted_headers)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Routing, the engine call and the error answer in one coroutine: each await layer
        # is paid again every time the request resumes.
        answer: Response | Result
        try:
            # Match on the raw path: `%2F` inside a value must not become a path separator.
            path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            if path == "/openapi.json":
                answer = Response(self._openapi, media_type="application/json")
            else:
                answer = await self._dispatch(scope, receive, path)
        except NaftikoError as exc:
            answer = error_response(exc)
        if isinstance(answer, Result):
            whole = _whole(answer)
            if whole is None:
                await _render(answer)(scope, receive, send)
            else:
                start, body = whole
                await send(start)
                await send(body)
        else:
            await answer(scope, receive, send)

    def _dispatch(
        self, scope: Scope, receive: Receive, path: str
    ) -> Coroutine[Any, Any, Response | Result]:
        """The route's engine call, not yet awaited (`handle` awaits it: no extra layer)."""
        route, variables, _, name = self._table.match(scope["method"], path)
        if route is None:  # the edge let it through: another method's route matched first
            return _ready(problem(404, f"no resource at {scope['path']}"))
        scope["state"][OPERATION] = name
        if route.forward_namespace is not None:
            return self._forward(route, Request(scope, receive), variables)
        # The edge has read any body there is (REQUEST_BODY; empty when none came).
        raw = REQUEST_BODY.get()
        inputs = self._inputs[id(route)]
        # Headers, cookies and the query are parsed only for a route that reads them (or
        # with a body, as its media type may matter).
        request = Request(scope, receive) if raw or inputs.reads_request else None
        arguments = _arguments(inputs, request, variables, raw)
        return self.engine.invoke(route.action, arguments, stream=True)

    async def _forward(self, route: Route, request: Request, variables: dict[str, str]) -> Result:
        assert route.forward_namespace is not None
        raw = REQUEST_BODY.get()  # as the edge read it
        return await self.engine.forward(
            route.forward_namespace,
            request.method,
            variables.get("path", ""),
            without_parameter(request.url.query, self._own_key),
            {
                h: _header_text(request.headers[h])
                for h in route.trusted_headers
                if h in request.headers
            },
            raw,
        )


async def _ready(answer: Response) -> Response:
    return answer


def _whole(result: Result) -> tuple[Message, Message] | None:
    """A whole body's two ASGI messages, with the headers Starlette's Response would give
    it (a plain function: no coroutine of its own); None for streams and bodiless answers,
    which go through `_render`."""
    status = result.status
    if result.stream is not None or (result.raw is None and result.body is None):
        return None
    if status < 200 or status in (204, 304):
        return None
    if result.raw is not None:
        body = result.raw
    else:
        # safejson writes a caller's exact decimals back as they were read.
        body = safejson.dumps(result.body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = _raw_headers(result.headers) if result.headers else []
    # Nothing passed back (the common case): no set of names to build.
    names = {name for name, _ in headers} if headers else ()
    if b"content-length" not in names:
        headers.append((b"content-length", str(len(body)).encode()))
    if b"content-type" not in names:
        headers.append((b"content-type", _media_type(result.content_type)))
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


def _raw_headers(given: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    if not given:
        return []
    # A dict first, as Starlette's Response takes them: a repeated name keeps its last value.
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in dict(given).items()]


@functools.lru_cache(maxsize=256)  # an upstream sends the same few; bounded all the same
def _media_type(media_type: str) -> bytes:
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    return media_type.encode("latin-1")


def _render(result: Result) -> Response:
    headers = dict(result.headers) if result.headers else None
    if result.stream is not None:
        return Streamed(result.stream, result.status, result.content_type, headers)
    if result.raw is not None:
        return Response(result.raw, result.status, headers=headers, media_type=result.content_type)
    if result.body is None:
        # A bodiless 200 is "no content"; a 201 or 202 keeps what its status says.
        return Response(status_code=204 if result.status == 200 else result.status, headers=headers)
    # safejson writes a caller's exact decimals back as they were read.
    text = safejson.dumps(result.body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), result.status, headers, media_type=result.content_type)


class _Inputs:
    """A route's caller inputs as `_arguments` walks them: each with the route's path
    variable that stands for it (the last one with its normalised name, as a dict of them
    would keep), and whether a lone `in: body` input stands for the whole body."""

    __slots__ = ("lone", "reads_request", "specs")

    def __init__(self, route: Route) -> None:
        inputs = route.action.caller_inputs
        in_path = {norm(name): name for _, name in route.variables}
        self.specs = tuple((spec, in_path.get(norm(spec.name))) for spec in inputs)
        # Whether any input may come from the query, a header or a cookie.
        self.reads_request = any(
            variable is None and spec.location not in ("path", "body")
            for spec, variable in self.specs
        )
        # Only a lone `in: body` input can stand for the whole body; one of several that the
        # caller left out is absent, not the whole body (issue 11, point 3).
        self.lone = sum(1 for i in inputs if i.location == "body") == 1


def _arguments(
    inputs: _Inputs, request: Request | None, variables: dict[str, str], raw: bytes
) -> dict[str, Any]:
    """Each input the operation declares (or the dialect derives) from where the request
    carries it, and nothing else: an undeclared parameter never reaches a template. A value
    in the URL path wins over a query parameter or body field of the same name."""
    body = _body(raw) if raw else None
    query = request.query_params if request is not None and request.scope["query_string"] else None
    arguments: dict[str, Any] = {}
    lone = inputs.lone
    for spec, variable in inputs.specs:
        if variable is not None:
            arguments[spec.name] = variables[variable]
            continue
        if spec.location == "path":
            continue
        value: Any = None
        if spec.location == "query":
            value = _query(query, spec)
        elif spec.location == "header":
            assert request is not None  # `_Inputs.reads_request`
            value = request.headers.get(spec.name)
            value = None if value is None else _header_text(value)
        elif spec.location == "cookie":
            assert request is not None
            value = request.cookies.get(spec.name)
        elif spec.location == "body":
            value = _from_body(spec, body, lone)
        else:
            # Derived or location-free: the query, else the JSON body (SEMANTICS §11.3 rule 8).
            value = _query(query, spec)
            if value is None:
                value = _from_body(spec, body, lone)
        if value is not None:
            arguments[spec.name] = value
    return arguments


def _header_text(value: str) -> str:
    """A header's text. ASGI hands header bytes over decoded as latin-1; bytes past ASCII
    are UTF-8 from every client that sends them, so they are read as such: forwarded as
    latin-1 text, the upstream received them encoded twice (`café` as `cafÃ©`)."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return safejson.loads(raw)  # NaN, overflow, deep nesting: InputError → 400
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _query(query: QueryParams | None, spec: Input) -> Any:
    if query is None:
        return None
    values = query.getlist(spec.name)
    if not values:
        wanted = norm(spec.name)
        values = next((query.getlist(k) for k in query if norm(k) == wanted), [])
    if spec.type == "array" and values and (len(values) > 1 or not values[0].startswith("[")):
        return values  # form/explode: `a=1&a=2`, or one `a=1` (issue 11, point 9)
    if len(values) > 1:
        # Parameter pollution: which copy a proxy or upstream would read is anyone's guess.
        raise InputError(spec.name, "query parameter given more than once")
    return values[0] if values else None


def _from_body(spec: Input, body: Any, lone: bool) -> Any:
    if body is None:
        return None
    if spec.body_path is not None:
        return spec.body_path.find(body)
    if spec.name == "body" and spec.location != "body":
        # The implicit `body` input (SEMANTICS §11.3 rule 8) is the whole payload: a field
        # that happens to be called `body` does not replace it.
        return body
    if isinstance(body, dict):
        if spec.name in body:
            return body[spec.name]
        wanted = norm(spec.name)
        for key, value in body.items():
            if norm(key) == wanted:
                return value
    if (spec.location == "body" and lone) or spec.name == "body":
        # The one body input, or the implicit `body`: the whole request body.
        return body
    if not isinstance(body, dict):
        # Named fields are read from a JSON object; an array or text has none to give.
        raise InputError("body", "must be a JSON object with the operation's fields")
    return None
