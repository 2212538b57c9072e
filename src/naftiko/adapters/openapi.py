"""`GET /openapi.json`: an OpenAPI 3.1 document generated from a REST adapter's plan."""

from __future__ import annotations

from typing import Any

from naftiko.adapters.openapi_schemas import PROBLEM, body_schema, input_schema, output_schema
from naftiko.engine.exposed import Guard, RestPlan, Route
from naftiko.engine.inputs import Input
from naftiko.expressions import Var, norm, parse_template, rewrite
from naftiko.version import __version__


def _openapi_variable(var: Var) -> str:
    return "{" + var.name + "}"


def openapi_document(plan: RestPlan) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in plan.routes:
        if route.forward_namespace is not None:
            continue
        path = rewrite(parse_template(route.path, single_braces=True), _openapi_variable)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, plan.guard)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": plan.title, "version": __version__},
        "paths": paths,
    }
    if plan.description:
        doc["info"]["description"] = plan.description
    if plan.guard is not None:
        scheme, scopes = security_scheme(plan.guard)
        doc["components"] = {"securitySchemes": {"adapterAuth": scheme}}
        doc["security"] = [{"adapterAuth": scopes}]
    return doc


def security_scheme(guard: Guard) -> tuple[dict[str, Any], list[str]]:
    """The OpenAPI security scheme of an adapter's authentication, and the scopes it needs."""
    if guard.kind == "apikey":
        return {"type": "apiKey", "name": guard.key, "in": guard.placement}, []
    policy = guard.oauth
    if policy is None:  # bearer, basic, digest: RFC 7235 schemes
        return {"type": "http", "scheme": guard.kind}, []
    # Machine callers get a token with the client-credentials grant (SEMANTICS §5.9); without a
    # `tokenEndpoint` the issuer's own URI stands in, as in the reference engine.
    flow = {
        "tokenUrl": policy.token_endpoint or policy.issuer,
        "scopes": {scope: scope for scope in policy.scopes},
    }
    return {"type": "oauth2", "flows": {"clientCredentials": flow}}, list(policy.scopes)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PARAMETER_PLACES = frozenset({"path", "query", "header", "cookie"})


def _operation(route: Route, guard: Guard | None) -> dict[str, Any]:
    action = route.action
    op: dict[str, Any] = {"operationId": action.name}
    if action.description:
        op["description"] = action.description
    if action.label:
        op["summary"] = action.label
    path_names = {norm(name) for _, name in route.variables}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for _, name in route.variables
    ]
    documented = {norm(name) for _, name in route.variables}
    body_fields: list[Input] = []
    whole_body: Input | None = None
    for spec in action.caller_inputs:
        key = norm(spec.name)
        if spec.const is not None or key in documented:
            continue
        documented.add(key)
        place = spec.location
        if place == "argument":
            # Read from the query string, else the JSON body (SEMANTICS §11.3 rule 8): the
            # body where a method has one, the query string elsewhere.
            place = "body" if route.method in _BODY_METHODS else "query"
        if place == "path" and key not in path_names:
            continue  # a path input the route's path does not carry is never filled
        if place in _PARAMETER_PLACES:
            parameters.append(_parameter(spec, place))
        elif spec.name == "body" and spec.body_path is None:
            whole_body = spec
        else:
            body_fields.append(spec)
    if parameters:
        op["parameters"] = parameters
    if whole_body is not None:
        schema = input_schema(whole_body, nullable=False)
        op["requestBody"] = _json_body(schema, whole_body.required)
    elif body_fields:
        required = any(spec.required for spec in body_fields)
        schema = body_schema(body_fields)
        if not required:
            schema["type"] = ["object", "null"]  # a JSON null body is no body at all
        op["requestBody"] = _json_body(schema, required)
    op["responses"] = _responses(route, guard, bool(whole_body or body_fields))
    return op


def _parameter(spec: Input, place: str) -> dict[str, Any]:
    schema = spec.json_schema()
    if place != "path" and schema.get("type") in ("object", "array"):
        # A query or header value is text; the runtime parses nothing out of it but a list.
        schema = {"type": "array", "items": {}} if schema["type"] == "array" else {}
    parameter: dict[str, Any] = {
        "name": spec.name,
        "in": place,
        "required": place == "path" or spec.required,
        "schema": schema,
    }
    if spec.description:
        parameter["description"] = spec.description
    return parameter


def _json_body(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _responses(route: Route, guard: Guard | None, has_body: bool) -> dict[str, Any]:
    """Every status this operation can answer: its success, the gateway's own refusals as
    problems, and, where an upstream is called, the upstream's statuses passed through (in
    its own JSON or problem JSON) with 502/504 for an upstream that fails to answer."""
    action = route.action
    upstream = action.mode != "mock" and not (
        action.mode == "ref" and action.delegate is not None and action.delegate.mode == "mock"
    )
    content = {"application/json": {"schema": output_schema(action)}}
    responses: dict[str, Any] = {
        "2XX" if upstream else "200": {"description": "Success", "content": content},
        "400": _error("The request does not fit the operation's inputs", upstream),
    }
    if guard is not None:
        responses["401"] = _error("Missing or invalid credentials", False)
        if guard.oauth is not None:
            responses["403"] = _error("The token lacks a required scope", False)
            responses["503"] = _error("The authorization server cannot be reached", False)
    if route.variables:
        responses["404"] = _error("A path value the route cannot take", upstream)
    if has_body:
        responses["413"] = _error("The request body is larger than the limit", False)
    if upstream:
        responses["4XX"] = _error("The upstream's own answer, passed through", True)
        responses["502"] = _error("The upstream is unreachable or its answer unusable", True)
        responses["504"] = _error("The upstream did not answer in time", False)
        responses["5XX"] = _error("The upstream's own answer, passed through", True)
    else:
        responses["500"] = _error("An unexpected fault", False)
    return responses


def _error(description: str, upstream: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/problem+json": {"schema": PROBLEM}}
    if upstream:
        # An upstream's own JSON error passes through unchanged, in its own media type.
        content["application/json"] = {"schema": {}}
    return {"description": description, "content": content}
