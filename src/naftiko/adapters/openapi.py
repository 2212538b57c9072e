"""`GET /openapi.json`: an OpenAPI 3.1 document generated from a REST adapter's plan."""

from __future__ import annotations

import re
from typing import Any

from naftiko.engine.exposed import Guard, RestPlan, Route
from naftiko.version import __version__

_BRACES = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def openapi_document(plan: RestPlan) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in plan.routes:
        if route.forward_namespace is not None:
            continue
        path = _BRACES.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route)
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


def _operation(route: Route) -> dict[str, Any]:
    action = route.action
    op: dict[str, Any] = {"operationId": action.name}
    if action.description:
        op["description"] = action.description
    if action.label:
        op["summary"] = action.label
    parameters = []
    body_props: dict[str, Any] = {}
    body_required: list[str] = []
    whole_body = False
    for spec in action.inputs:
        if spec.const is not None:
            continue
        if spec.location in ("path", "query", "header", "cookie"):
            parameters.append(
                {
                    "name": spec.name,
                    "in": spec.location,
                    "required": spec.required or spec.location == "path",
                    "schema": spec.json_schema(),
                }
            )
        elif spec.name == "body":
            whole_body = True
        elif route.method in ("POST", "PUT", "PATCH"):
            body_props[spec.name] = spec.json_schema()
            if spec.required:
                body_required.append(spec.name)
    if parameters:
        op["parameters"] = parameters
    if whole_body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    elif body_props:
        schema: dict[str, Any] = {"type": "object", "properties": body_props}
        if body_required:
            schema["required"] = body_required
        op["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    op["responses"] = {
        "200": {
            "description": "Success",
            "content": {"application/json": {"schema": {}}},
        },
        "default": {
            "description": "Error",
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        },
    }
    return op
