"""`Api` → Naftiko documents: the shared consumes file (SEMANTICS §9) or a whole capability
with a REST adapter mirroring the upstream paths and an MCP tool per operation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from naftiko.expressions import Var, parse_template, rewrite
from naftiko.spec.loader import SPEC_VERSION
from naftiko.tools.oas_model import Api, Auth, Op, Param, kebab, upper_snake
from naftiko.tools.oas_schema import primary_type

# readOnly, destructive, idempotent by HTTP method (RFC 9110 §9.2: safe and idempotent methods).
HINTS = {
    "GET": (True, False, True),
    "PUT": (False, True, True),
    "DELETE": (False, True, True),
    "POST": (False, False, False),
    "PATCH": (False, False, False),
}
# Schema keywords written as the parameter's own fields (`type` is always its own).
_AS_FIELDS = frozenset({"type", "description", "title", "enum", "pattern", "items"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OUTPUT_TYPES = {"integer": "number"}  # consumed outputs have no `integer` (alpha2 schema)


def consumes_document(api: Api) -> dict[str, Any]:
    """The shared-consumes document `naftiko import openapi` writes (placeholders for secrets)."""
    placeholders = {
        "bearer": {"token": "{{BEARER_TOKEN}}"},
        "apikey": {"value": "{{API_KEY}}"},
        "basic": {"username": "{{USERNAME}}", "password": "{{PASSWORD}}"},
        "digest": {"username": "{{USERNAME}}", "password": "{{PASSWORD}}"},
        "oauth2": {"clientId": "{{CLIENT_ID}}", "clientSecret": "{{CLIENT_SECRET}}"},
    }
    auth = _auth(api.auth, placeholders[api.auth.kind]) if api.auth else None
    return {"naftiko": SPEC_VERSION, "consumes": [_consumes(api, auth, typed=True)]}


def capability_document(api: Api, rest_port: int = 8080, mcp_port: int = 9090) -> dict[str, Any]:
    """A runnable capability: consumes, a REST adapter, an MCP adapter, binds for credentials."""
    variables = credential_variables(api)
    auth = None
    if api.auth is not None:
        auth = _auth(api.auth, {field: "{{" + var + "}}" for field, var in variables.items()})
    doc: dict[str, Any] = {
        "naftiko": SPEC_VERSION,
        "info": {
            "label": api.title,
            "description": api.description or f"{api.title}, imported from its OpenAPI document.",
        },
    }
    if variables:
        keys = {var: var for var in variables.values()}
        doc["binds"] = [{"namespace": f"{api.namespace}-env", "keys": keys}]
    prefix = urlsplit(api.base_uri).path.rstrip("/")
    doc["capability"] = {
        # Types live on the exposed inputs; the consumed side only says where each value goes.
        "consumes": [_consumes(api, auth, typed=False)],
        "exposes": [
            {
                "type": "rest",
                "namespace": f"{api.namespace}-rest",
                "port": rest_port,
                "resources": _rest_resources(api, prefix),
            },
            {
                "type": "mcp",
                "namespace": f"{api.namespace}-mcp",
                "port": mcp_port,
                "description": f"Tools for {api.title}: one per operation of its OpenAPI document.",
                "tools": [_tool(api, op) for op in api.ops],
            },
        ],
    }
    if not api.ops:
        doc["capability"]["exposes"].pop()  # an MCP adapter needs at least one tool
    return doc


def credential_variables(api: Api) -> dict[str, str]:
    """Auth field → environment variable, named after the namespace (`GROQ_TOKEN`...)."""
    if api.auth is None:
        return {}
    stem = upper_snake(api.namespace)
    return {
        "bearer": {"token": f"{stem}_TOKEN"},
        "apikey": {"value": f"{stem}_API_KEY"},
        "basic": {"username": f"{stem}_USERNAME", "password": f"{stem}_PASSWORD"},
        "digest": {"username": f"{stem}_USERNAME", "password": f"{stem}_PASSWORD"},
        "oauth2": {"clientId": f"{stem}_CLIENT_ID", "clientSecret": f"{stem}_CLIENT_SECRET"},
    }[api.auth.kind]


def _auth(auth: Auth, secrets: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": auth.kind}
    if auth.kind == "apikey":
        out.update(key=auth.key, value=secrets["value"], placement=auth.placement)
    elif auth.kind == "oauth2":
        out["tokenEndpoint"] = auth.token_url
        out.update(secrets)
        if auth.scopes:
            out["scopes"] = list(auth.scopes)
    else:
        out.update(secrets)
    return out


def _consumes(api: Api, auth: dict[str, Any] | None, *, typed: bool) -> dict[str, Any]:
    resources: dict[str, dict[str, Any]] = {}
    for op in api.ops:
        path = rewrite(parse_template(op.path, single_braces=True), _spec_variable)
        resource = resources.setdefault(
            path, {"name": kebab(op.path) or "root", "path": path, "operations": []}
        )
        resource["operations"].append(_consumed_operation(op, typed))
    entry: dict[str, Any] = {"type": "http", "namespace": api.namespace, "baseUri": api.base_uri}
    if api.description:
        entry["description"] = api.description
    if auth is not None:
        entry["authentication"] = auth
    entry["resources"] = list(resources.values())
    return entry


def _consumed_operation(op: Op, typed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": op.name, "method": op.method, **_described(op)}
    if op.params:
        out["inputParameters"] = [
            _parameter(p, with_location=True, exposed=False)
            if typed
            else {"name": p.name, "in": p.location}
            for p in op.params
        ]
    fields = [p for p in op.params if p.location == "body"]
    if op.body == "form":
        data = {p.name: "{{" + p.name + "}}" for p in fields}
        out["body"] = {"type": "formUrlEncoded", "data": data}
    elif op.body == "fields" and len(fields) == 1:
        # One body parameter alone would *be* the body (SEMANTICS §11.3 rule 7): keep the object.
        out["body"] = {"type": "json", "data": {fields[0].name: "{{" + fields[0].name + "}}"}}
    out["outputRawFormat"] = op.output_format
    outputs = _outputs(op.response)
    if outputs:
        out["outputParameters"] = outputs
    return out


def _parameter(param: Param, *, with_location: bool, exposed: bool = True) -> dict[str, Any]:
    schema = param.schema
    out: dict[str, Any] = {"name": param.name}
    if with_location:
        out["in"] = param.location
    out["type"] = primary_type(schema, "object" if param.name == "body" else "string")
    description = param.description or schema.get("description") or schema.get("title")
    out["description"] = description or f"{param.location} parameter {param.name}"
    out["required"] = param.required
    if isinstance(schema.get("pattern"), str):
        out["pattern"] = schema["pattern"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(v is not None for v in enum):
        out["enum"] = enum
    if out["type"] == "array" and isinstance(schema.get("items"), dict):
        out["items"] = schema["items"]
    extra = {k: v for k, v in schema.items() if k not in _AS_FIELDS}
    if extra and exposed:
        out["schema"] = extra  # formats, bounds, defaults, nested fields: shown to clients
    return out


def _outputs(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The 2xx JSON schema's top-level fields as consumed outputs (used by orchestration)."""
    if not schema:
        return []
    kind = primary_type(schema, "")
    if kind == "array":
        return [{"name": "items", "type": "array", "value": "$"}]
    props = schema.get("properties")
    if kind != "object" or not isinstance(props, dict):
        return []
    outputs = []
    for name, sub in props.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            continue  # not addressable as `$.name`
        sub_kind = primary_type(sub, "object")
        outputs.append(
            {
                "name": kebab(name) or name,
                "type": _OUTPUT_TYPES.get(sub_kind, sub_kind),
                "value": f"$.{name}",
            }
        )
    return outputs


def _rest_resources(api: Api, prefix: str) -> list[dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {}
    for op in api.ops:
        path = prefix + rewrite(parse_template(op.path, single_braces=True), _spec_variable)
        resource = resources.setdefault(
            path, {"path": path, "name": kebab(path) or "root", "operations": []}
        )
        operation: dict[str, Any] = {"method": op.method, "name": op.name, **_described(op)}
        if op.params:
            operation["inputParameters"] = [_rest_parameter(p, op) for p in op.params]
        operation["call"] = f"{api.namespace}.{op.name}"
        resource["operations"].append(operation)
    return list(resources.values())


def _rest_parameter(param: Param, op: Op) -> dict[str, Any]:
    out = _parameter(param, with_location=True)
    if param.location == "body" and op.body == "fields":
        # A field read by JSONPath is absent when the caller leaves it out; by name alone, an
        # absent field would receive the whole request body (SEMANTICS §5.3).
        name = param.name
        out["value"] = f"$.{name}" if _IDENTIFIER.fullmatch(name) else f"$['{name}']"
    return out


def _tool(api: Api, op: Op) -> dict[str, Any]:
    read_only, destructive, idempotent = HINTS[op.method]
    tool: dict[str, Any] = {"name": op.name}
    if op.summary:
        tool["label"] = op.summary
    tool["description"] = op.description or op.summary or f"{op.method} {op.path}"
    if op.deprecated:
        tool["description"] = "Deprecated. " + tool["description"]
    tool["hints"] = {"readOnly": read_only, "destructive": destructive, "idempotent": idempotent}
    if op.params:
        tool["inputParameters"] = [_parameter(p, with_location=False) for p in op.params]
    tool["call"] = f"{api.namespace}.{op.name}"
    return tool


_SCHEMA_KEYS = {
    "consumed": ("name", "in", "value"),
    "rest": ("name", "in", "type", "description", "pattern", "value"),  # no `required`
    "mcp": ("name", "type", "description", "required"),
}


def schema_only(document: dict[str, Any]) -> dict[str, Any]:
    """The document with only what the official alpha2 JSON Schema allows on inputs (for
    `validate --strict`): REST inputs lose `required` and enums, tool inputs enums and patterns,
    consumed inputs their types. The runtime then validates less before calling upstream."""
    body = document.get("capability", document)
    for consumes in body.get("consumes", []):
        for resource in consumes.get("resources", []):
            for op in resource.get("operations", []):
                _keep(op, "consumed")
    for adapter in body.get("exposes", []):
        units = [op for r in adapter.get("resources", []) for op in r.get("operations", [])]
        for unit in units + adapter.get("tools", []):
            _keep(unit, adapter["type"])
    return document


def _keep(unit: dict[str, Any], kind: str) -> None:
    allowed = _SCHEMA_KEYS[kind]
    unit["inputParameters"] = [
        {k: v for k, v in p.items() if k in allowed} for p in unit.get("inputParameters", [])
    ]
    if not unit["inputParameters"]:
        del unit["inputParameters"]


def _spec_variable(var: Var) -> str:
    return "{{" + var.name + "}}"


def _described(op: Op) -> dict[str, str]:
    """An operation's `label` (its summary) and `description` (else the summary)."""
    described = {"label": op.summary} if op.summary else {}
    description = op.description or op.summary
    if description:
        described["description"] = description
    return described
