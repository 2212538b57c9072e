"""`build_plan(capability, bindings)`: the model turned, once, into a `Plan`: each consumed
operation compiled (URL template and where each variable stands, parameters merged, body),
every script step compiled, every aggregate function made an `Action`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from naftiko.engine.actions import action_for
from naftiko.engine.binary_formats import BINARY_FORMATS
from naftiko.engine.plan import (
    HOST,
    PATH,
    PORT,
    QUERY,
    SCHEME,
    USERINFO,
    Action,
    BodyPlan,
    Client,
    ConsumedParam,
    Operation,
    Plan,
)
from naftiko.engine.scripting import Script, compile_script, settings_for
from naftiko.expressions import (
    Template,
    Var,
    parse_template,
)
from naftiko.model import (
    Capability,
    ConsumedOperation,
    ConsumedResource,
    ConsumesHttp,
    InputParameter,
    ScriptStep,
    StructuredBody,
)
from naftiko.spec.bindings import Bindings


def build_plan(capability: Capability, bindings: Bindings) -> Plan:
    body = capability.body
    scripts = _scripts(capability, bindings)
    operations: dict[str, Operation] = {}
    clients: dict[str, Client] = {}
    for c in body.consumes:
        fixed = tuple(
            _consumed_param(p)
            for p in c.inputParameters
            if p.in_ == "header" and (p.value is not None or p.template is not None)
        )
        clients[c.namespace] = Client(c.namespace, c.baseUri, c.authentication, fixed)
        for resource in c.resources:
            for op in resource.operations:
                operations.setdefault(
                    f"{c.namespace}.{op.name}", _operation(c, resource, op, capability.path.parent)
                )
    plan = Plan(capability, bindings, clients, operations, scripts=scripts)
    functions: dict[str, Action] = {}
    for agg in body.aggregates:
        for fn in agg.functions:
            key = f"{agg.namespace}.{fn.name}"
            # §7.6: a function's `semantics` become the MCP hints of the tools that ref it.
            hints = fn.semantics.hints() if fn.semantics is not None else None
            functions[key] = action_for(
                plan, fn, fn.name, agg.namespace, fn.inputParameters, hints=hints
            )
    return Plan(capability, bindings, clients, operations, functions, scripts)


def _scripts(capability: Capability, bindings: Bindings) -> dict[int, Script]:
    """Every script step of the spec, compiled now: what cannot run stops startup, located."""
    found: list[tuple[ScriptStep, tuple[str | int, ...]]] = []
    _find_scripts(capability.capability, ("capability",), found)
    if not found:
        return {}
    settings = settings_for(capability, bindings.environ)
    base = capability.path.parent
    return {
        id(step): compile_script(step, settings, base, capability.locate(path))
        for step, path in found
    }


def _find_scripts(
    node: Any, path: tuple[str | int, ...], found: list[tuple[ScriptStep, tuple[str | int, ...]]]
) -> None:
    if isinstance(node, ScriptStep):
        found.append((node, path))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _find_scripts(item, (*path, i), found)
    elif isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            _find_scripts(getattr(node, name), (*path, info.alias or name), found)


def _operation(
    c: ConsumesHttp, resource: ConsumedResource, op: ConsumedOperation, base: Path
) -> Operation:
    path = op.path if op.path is not None else resource.path
    joined = c.baseUri.rstrip("/") + ("/" + path.lstrip("/") if path else "")
    merged: dict[tuple[str, str], ConsumedParam] = {}
    # Adapter < resource < operation, merged by (name, in) (SEMANTICS §3.3 [R]).
    for param in (*c.inputParameters, *resource.inputParameters, *op.inputParameters):
        merged[(param.name, param.in_ or "query")] = _consumed_param(param)
    params = tuple(merged.values())
    url = parse_template(joined, single_braces=True)
    return Operation(
        namespace=c.namespace,
        name=op.name,
        method=op.method.upper(),
        url=url,
        url_segments=url_segments(url),
        params=params,
        body=_body(op.body, params),
        fmt=op.outputRawFormat.lower(),
        output_schema=_schema_file(op, base),
        outputs=tuple(op.outputParameters),
        description=op.description,
    )


def _schema_file(op: ConsumedOperation, base: Path) -> str | None:
    """A binary format's schema file, relative to the spec (`x.desc#pkg.Message` keeps its
    message name); other formats' `outputSchema` is a selector, kept as written."""
    schema = op.outputSchema
    if not schema or op.outputRawFormat.lower() not in BINARY_FORMATS:
        return schema
    path, hash_, message = schema.partition("#")
    path = unquote(path[7:]) if path.startswith("file://") else path
    return str(base / path) + hash_ + message


def url_segments(url: Template) -> tuple[tuple[str | Var, str], ...]:
    """Each part of a URL template with where it stands (SCHEME, USERINFO, HOST, PORT, PATH
    or QUERY), read by splitting the template with a marker in place of each variable. A
    variable before any `://` (`{{API_BASE}}/x`) stands for the whole origin: SCHEME."""
    marks = [f"x7q{i}q7x" if isinstance(p, Var) else p for i, p in enumerate(url.parts)]
    probe = "".join(marks)
    whole_origin = ""
    if "://" not in probe:
        # `{{API_BASE}}/items/{id}`: the leading variable is the origin, the rest a path.
        whole_origin = marks[0] if isinstance(url.parts[0], Var) else ""
        probe = "s://h" + ("/" if not whole_origin else "") + probe[len(whole_origin) :]
    split = urlsplit(probe)
    segments: list[tuple[str | Var, str]] = []
    for part, mark in zip(url.parts, marks, strict=True):
        if isinstance(part, str):
            segments.append((part, ""))
        elif mark == whole_origin or probe.index(mark) < probe.index("://"):
            segments.append((part, SCHEME))
        elif mark in split.netloc:
            userinfo, _, hostport = split.netloc.rpartition("@")
            _, colon, port = hostport.rpartition(":")
            if mark in userinfo:
                segments.append((part, USERINFO))
            elif colon and mark in port and not port.endswith("]"):
                segments.append((part, PORT))
            else:
                segments.append((part, HOST))
        elif mark in split.query or mark in split.fragment:
            segments.append((part, QUERY))
        else:
            segments.append((part, PATH))
    return tuple(segments)


def _consumed_param(param: InputParameter) -> ConsumedParam:
    raw = param.value if param.value is not None else param.template
    value = (
        parse_template(str(raw) if not isinstance(raw, str) else raw) if raw is not None else None
    )
    return ConsumedParam(
        name=param.name,
        location=param.in_ or "query",
        value=value,
        required=param.required is True,
        type=param.type,
        description=param.description,
        enum=tuple(param.enum) if param.enum else None,
    )


def _body(body: str | StructuredBody | None, params: tuple[ConsumedParam, ...]) -> BodyPlan | None:
    body_params = tuple(p for p in params if p.location == "body")
    if isinstance(body, str):
        return BodyPlan("template", template=parse_template(body))
    if isinstance(body, StructuredBody) and body.data is not None:
        template = parse_template(body.data) if isinstance(body.data, str) else None
        return BodyPlan(body.type, template=template, data=body.data)
    if body_params:
        # §11.3 rule 7: `in: body` parameters without a body template build a JSON body.
        return BodyPlan("params", params=body_params)
    return None
