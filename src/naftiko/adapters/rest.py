"""REST adapter: a Starlette app per `type: rest` adapter, routes generated from the spec."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import naftiko.safejson as safejson
from naftiko.adapters.auth_gate import Gate, caller
from naftiko.adapters.common import access_log, error_response, log, problem, request_id
from naftiko.adapters.limits import Streamed
from naftiko.adapters.openapi import openapi_document
from naftiko.adapters.rest_routes import RouteTable
from naftiko.engine.engine import Engine
from naftiko.engine.exposed import RestPlan, Route
from naftiko.engine.inputs import Input
from naftiko.engine.metrics import Metrics
from naftiko.errors import InputError, NaftikoError
from naftiko.expressions import norm

DEFAULT_MAX_BODY = 10 * 1024 * 1024


class RestAdapter:
    """A Starlette application per REST adapter: its own ASGI entry does the routing.

    Starlette's Router and middleware stack cost a third of the gateway's throughput here
    (bench/rest.py), and every route is a spec path matched by one regex table anyway; so
    requests go straight to `_dispatch`, with Starlette's Request and Response types.
    """

    def __init__(
        self,
        plan: RestPlan,
        engine: Engine,
        metrics: Metrics,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.plan = plan
        self.engine = engine
        self.metrics = metrics
        self.max_body = max_body
        self._openapi = json.dumps(openapi_document(plan)).encode()
        self._gate = Gate(plan.guard, engine.upstreams)
        self._table = RouteTable(plan.routes)
        self.app = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._dispatch(Request(scope, receive))
        await response(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    async def _dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        route_name = "-"
        scope = request.scope
        method = scope["method"]
        try:
            # Match on the raw path: `%2F` inside a value must not become a path separator.
            raw_path = scope.get("raw_path") or scope["path"].encode()
            path = raw_path.decode("latin-1")
            metadata = self._gate.metadata(request)
            if metadata is not None:
                response = metadata
            elif path == "/openapi.json":
                response = await self._openapi_answer(request)
            else:
                found = self._table.match(method, path)
                route_name = found.name
                response = await self._handle(request, found.route, found.variables, found.allowed)
        except _TooLarge as exc:
            response = problem(413, str(exc))
        except NaftikoError as exc:
            response = error_response(exc)
        except Exception:
            # The edge: an unexpected fault is a 500 with no details, and a log line for us.
            log.exception("unexpected error in REST adapter %s", self.plan.namespace)
            response = problem(500, "internal error")
        elapsed = time.perf_counter() - started
        status = response.status_code
        self.metrics.observe("rest", self.plan.namespace, route_name, str(status), elapsed)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s %d %.1fms %s %s",
                self.plan.namespace,
                method,
                scope["path"],
                status,
                elapsed * 1000,
                caller(scope),
                request_id(),
            )
        return response

    async def _openapi_answer(self, request: Request) -> Response:
        if request.method not in _READ_METHODS:
            return problem(405, f"method {request.method} not allowed", allow=_allow(["GET"]))
        if request.method == "OPTIONS":
            return _options(["GET"])
        refusal = await self._gate.admit(request)
        return refusal or Response(self._openapi, media_type="application/json")

    def methods_at(self, path: str) -> list[str]:
        """The methods `path` answers (CORS preflights)."""
        methods = self._table.methods_at(path)
        if "*" in methods:
            return ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]
        return sorted(methods | ({"HEAD"} if "GET" in methods else set()))

    def header_inputs(self) -> frozenset[str]:
        """Every request header the spec reads (CORS preflights)."""
        return frozenset(
            spec.name
            for route in self.plan.routes
            for spec in route.action.caller_inputs
            if spec.location == "header"
        ) | frozenset(route_header for r in self.plan.routes for route_header in r.trusted_headers)

    async def _handle(
        self,
        request: Request,
        route: Route | None,
        variables: dict[str, str],
        allowed: list[str],
    ) -> Response:
        if route is None:
            if allowed and request.method == "OPTIONS":
                return _options(allowed)
            if allowed:
                return problem(405, f"method {request.method} not allowed", allow=_allow(allowed))
            return problem(404, f"no resource at {request.scope['path']}")
        refusal = await self._gate.admit(request)
        if refusal is not None:
            return refusal
        raw = await self._read_body(request)
        if route.forward_namespace is not None:
            result = await self.engine.forward(
                route.forward_namespace,
                request.method,
                variables.get("path", ""),
                request.url.query,
                {h: request.headers[h] for h in route.trusted_headers if h in request.headers},
                raw,
            )
        else:
            arguments = _arguments(route, request, variables, raw)
            result = await self.engine.invoke(route.action, arguments, stream=True)
        headers = dict(result.headers) if result.headers else None
        if result.stream is not None:
            return Streamed(result.stream, result.status, result.content_type, headers)
        if result.raw is not None:
            return Response(
                result.raw, result.status, headers=headers, media_type=result.content_type
            )
        if result.body is None:
            return Response(
                status_code=204 if result.status < 300 else result.status, headers=headers
            )
        # safejson writes a caller's exact decimals back as they were read.
        text = safejson.dumps(result.body, ensure_ascii=False, separators=(",", ":"))
        return Response(text.encode(), result.status, headers, media_type=result.content_type)

    async def _read_body(self, request: Request) -> bytes:
        headers = request.headers
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            return b""  # no body announced: nothing to wait for
        if declared == "0":
            return b""
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise _TooLarge(self.max_body)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge(self.max_body)
            chunks.append(chunk)
        return b"".join(chunks)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _allow(methods: list[str]) -> list[str]:
    """What `Allow` lists for a path: its methods, HEAD wherever GET is, and OPTIONS."""
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def _options(methods: list[str]) -> Response:
    """OPTIONS on a known path (RFC 9110 §9.3.7). A CORS preflight never gets here: the CORS
    middleware wrapping the adapter answers those."""
    return Response(status_code=204, headers={"Allow": ", ".join(_allow(methods))})


class _TooLarge(InputError):
    def __init__(self, limit: int) -> None:
        super().__init__("body", f"request body is larger than {limit} bytes")


def _arguments(
    route: Route, request: Request, variables: dict[str, str], raw: bytes
) -> dict[str, Any]:
    """Each input the operation declares (or the dialect derives) from where the request
    carries it, and nothing else: an undeclared parameter never reaches a template. A value
    in the URL path wins over a query parameter or body field of the same name."""
    body = _body(raw)
    path = {norm(name): value for name, value in variables.items()}
    query = request.query_params if request.scope["query_string"] else None
    arguments: dict[str, Any] = {}
    # Only a lone `in: body` input can stand for the whole body; one of several that the
    # caller left out is absent, not the whole body (issue 11, point 3).
    lone = sum(1 for i in route.action.caller_inputs if i.location == "body") == 1
    for spec in route.action.caller_inputs:
        key = norm(spec.name)
        if key in path or spec.location == "path":
            if key in path:
                arguments[spec.name] = path[key]
            continue
        value: Any = None
        if spec.location == "query":
            value = _query(query, spec)
        elif spec.location == "header":
            value = request.headers.get(spec.name)
        elif spec.location == "cookie":
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
