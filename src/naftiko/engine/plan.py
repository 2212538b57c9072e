"""Everything a request needs, resolved once at startup into immutable objects.

`build_plan(capability, bindings)` turns the model into actions (one per REST operation, MCP
tool or resource, aggregate function) and upstream operations; adapters only look actions up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from naftiko.engine.binary_formats import BINARY_FORMATS
from naftiko.engine.inputs import Input, declared_input
from naftiko.engine.outputs import is_passthrough
from naftiko.engine.scripting import Script, compile_script, settings_for
from naftiko.expressions import (
    Ref,
    StepPath,
    Template,
    Var,
    WithValue,
    norm,
    parse_step_path,
    parse_template,
    parse_with_value,
)
from naftiko.model import (
    Authentication,
    Capability,
    ConsumedOperation,
    ConsumedResource,
    ConsumesHttp,
    InputParameter,
    LookupStep,
    McpToolHints,
    OutputParameter,
    ScriptStep,
    StructuredBody,
)
from naftiko.model.capability import AggregateFunction
from naftiko.model.exposes import _Unit
from naftiko.spec.bindings import Bindings
from naftiko.vocabulary import IDEMPOTENT_METHODS

# forward: the request passed on as it came (`Engine.forward`), never through `invoke`.
Mode = Literal["call", "steps", "ref", "mock", "forward"]
# Where a URL variable stands. Only configuration may fill the origin's scheme, userinfo and
# port; a caller's value may fill a HOST position only as one DNS label (SECURITY.md).
SCHEME, USERINFO, HOST, PORT, PATH, QUERY = "scheme", "userinfo", "host", "port", "path", "query"
ORIGIN = frozenset({SCHEME, USERINFO, HOST, PORT})


@dataclass(frozen=True)
class ConsumedParam:
    name: str
    location: str  # query | header | path | cookie | body | environment
    value: Template | None = None
    required: bool = False
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class BodyPlan:
    kind: str  # template | json | text | xml | sparql | formUrlEncoded | multipartForm | params
    template: Template | None = None
    data: Any = None
    params: tuple[ConsumedParam, ...] = ()


@dataclass(frozen=True)
class Operation:
    """One consumed HTTP operation, ready to render."""

    namespace: str
    name: str
    method: str
    url: Template
    params: tuple[ConsumedParam, ...]
    body: BodyPlan | None
    fmt: str
    output_schema: str | None
    outputs: tuple[OutputParameter, ...]
    description: str | None = None
    url_segments: tuple[tuple[str | Var, str], ...] = ()

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class CallStepPlan:
    name: str
    operation: Operation
    with_: tuple[tuple[str, WithValue], ...]


@dataclass(frozen=True)
class LookupStepPlan:
    name: str
    index: str
    match: str
    value: StepPath | Template
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ScriptStepPlan:
    name: str
    script: Script
    with_: tuple[tuple[str, WithValue], ...] = ()


StepPlan = CallStepPlan | LookupStepPlan | ScriptStepPlan


@dataclass(frozen=True)
class Action:
    """An exposed unit: what the caller may send, and how it runs."""

    name: str
    namespace: str
    mode: Mode
    inputs: tuple[Input, ...] = ()
    with_: tuple[tuple[str, WithValue], ...] = ()
    operation: Operation | None = None
    steps: tuple[StepPlan, ...] = ()
    mappings: tuple[tuple[str, StepPath], ...] = ()
    outputs: tuple[OutputParameter, ...] = ()
    delegate: Action | None = None
    description: str | None = None
    label: str | None = None
    hints: McpToolHints | None = None
    passthrough: bool = True  # outputs that leave the upstream's JSON as it is

    @property
    def caller_inputs(self) -> tuple[Input, ...]:
        """Everything a caller may fill: the unit's inputs, then its function's (a `ref`)."""
        if self.delegate is None:
            return self.inputs
        known = {norm(i.name) for i in self.inputs}
        return self.inputs + tuple(i for i in self.delegate.inputs if norm(i.name) not in known)

    @property
    def input_schema(self) -> dict[str, Any]:
        inputs = self.inputs or (self.delegate.inputs if self.delegate else ())
        if not inputs:
            return {"type": "object"}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {i.name: i.json_schema() for i in inputs if i.const is None},
        }
        required = [i.name for i in inputs if i.required and i.const is None]
        if required:
            schema["required"] = required
        return schema


@dataclass(frozen=True)
class Client:
    """A consumed namespace: where and how to authenticate."""

    namespace: str
    base_uri: str
    authentication: Authentication | None
    # Adapter-level header parameters with a value: sent on `forward` requests too (§3.7).
    headers: tuple[ConsumedParam, ...] = ()


@dataclass(frozen=True)
class Plan:
    capability: Capability
    bindings: Bindings
    clients: Mapping[str, Client]
    operations: Mapping[str, Operation]
    functions: Mapping[str, Action] = field(default_factory=dict)
    scripts: Mapping[int, Script] = field(default_factory=dict)  # by id() of the ScriptStep


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


# --------------------------------------------------------------------------- actions


def action_for(
    plan: Plan,
    unit: _Unit,
    name: str,
    namespace: str,
    declared: list[InputParameter],
    *,
    implicit: tuple[Input, ...] = (),
    description: str | None = None,
    label: str | None = None,
    hints: McpToolHints | None = None,
    required_by_default: bool = True,
) -> Action:
    """One exposed unit → Action. `implicit` inputs come from the adapter (e.g. path variables)."""
    prefixes = frozenset({namespace})
    with_ = tuple((k, parse_with_value(v, prefixes)) for k, v in (unit.with_ or {}).items())
    operation = plan.operations.get(unit.call) if unit.call else None
    delegate = plan.functions.get(unit.ref) if unit.ref else None
    mode: Mode
    if unit.ref:
        mode = "ref"
    elif unit.steps:
        mode = "steps"
    elif operation is not None:
        mode = "call"
    else:
        mode = "mock"
    steps = tuple(_step(plan, s, prefixes) for s in unit.steps)
    inputs = tuple(declared_input(p, required_by_default) for p in declared)
    inputs = _with_implicit(inputs, implicit)
    if not declared:
        derived = _derive(operation, with_, steps)
        # Variables that binds or the environment supply are configuration, not inputs.
        derived = tuple(i for i in derived if not _bound(plan, i.name))
        inputs = _with_implicit(inputs, derived)
    if isinstance(unit, AggregateFunction) and not description:
        description = unit.description
    return Action(
        name=name,
        namespace=namespace,
        mode=mode,
        inputs=inputs,
        with_=with_,
        operation=operation,
        steps=steps,
        mappings=tuple(
            (m.targetName, path)
            for m in unit.mappings
            if (path := parse_step_path(m.value)) is not None
        ),
        outputs=tuple(unit.outputParameters),
        passthrough=is_passthrough(tuple(unit.outputParameters)),
        delegate=delegate,
        description=description,
        label=label,
        hints=hints,
    )


def _bound(plan: Plan, name: str) -> bool:
    return plan.bindings.lookup(name) is not None or name in plan.bindings.environ


def _with_implicit(inputs: tuple[Input, ...], extra: tuple[Input, ...]) -> tuple[Input, ...]:
    known = {norm(i.name) for i in inputs}
    return inputs + tuple(i for i in extra if norm(i.name) not in known)


def _derive(
    operation: Operation | None,
    with_: tuple[tuple[str, WithValue], ...],
    steps: tuple[StepPlan, ...],
) -> tuple[Input, ...]:
    """Derived inputs of a single call, or of every call step of an orchestration (minus
    the names of the steps themselves, which are outputs, not inputs)."""
    if operation is not None:
        return derive_inputs(operation, with_)
    step_names = {norm(s.name) for s in steps}
    derived: tuple[Input, ...] = ()
    for step in steps:
        if isinstance(step, CallStepPlan):
            found = derive_inputs(step.operation, step.with_)
            derived = _with_implicit(
                derived, tuple(i for i in found if norm(i.name) not in step_names)
            )
    return derived


def derive_inputs(
    operation: Operation, with_: tuple[tuple[str, WithValue], ...]
) -> tuple[Input, ...]:
    """Inputs of a unit that declares none (§11.3 rule 8): from `with` and the operation."""
    by_name = {norm(p.name): p for p in operation.params}
    derived: list[Input] = []
    fed: set[str] = set()
    for key, value in with_:
        fed.add(norm(key))
        names: list[str] = []
        if isinstance(value, Ref):
            names = [value.name]
        elif isinstance(value, Template):
            names = [v.name for v in value.variables if "." not in v.name]
        for name in names:
            param = by_name.get(norm(key))
            derived.append(_derived(name, param))
    for param in operation.params:
        if param.value is None and norm(param.name) not in fed and param.location != "environment":
            derived.append(_derived(param.name, param))
    for var in operation.url.variables:
        if norm(var.name) not in fed and norm(var.name) not in by_name and "." not in var.name:
            derived.append(Input(name=var.name, location="argument", required=True))
    for name in _template_names(operation):
        if norm(name) not in fed and norm(name) not in by_name:
            # `{{x}}` in a body or parameter value: any JSON value, as the template places it.
            derived.append(Input(name=name, type="any", required=False))
    unique: dict[str, Input] = {}
    for item in derived:
        unique.setdefault(norm(item.name), item)
    return tuple(unique.values())


def _template_names(operation: Operation) -> list[str]:
    """Undotted `{{x}}` names in the operation's parameter values and body."""
    templates = [p.value for p in operation.params if p.value is not None]
    body = operation.body
    if body is not None:
        if body.template is not None:
            templates.append(body.template)
        templates.extend(parse_template(text) for text in _strings(body.data))
    return [v.name for t in templates for v in t.variables if "." not in v.name]


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _derived(name: str, param: ConsumedParam | None) -> Input:
    if param is None:
        return Input(name=name)
    kind = param.type or ("object" if param.location == "body" else "string")
    required = param.required or param.location in ("path", "body")
    return Input(name=name, type=kind, description=param.description, required=required)


def _step(plan: Plan, step: Any, prefixes: frozenset[str]) -> StepPlan:
    if isinstance(step, LookupStep):
        value: StepPath | Template = parse_step_path(step.lookupValue) or parse_template(
            step.lookupValue
        )
        return LookupStepPlan(
            step.name, step.index, step.match, value, tuple(step.outputParameters)
        )
    with_ = tuple((k, parse_with_value(v, prefixes)) for k, v in (step.with_ or {}).items())
    if isinstance(step, ScriptStep):
        return ScriptStepPlan(step.name, plan.scripts[id(step)], with_)
    return CallStepPlan(step.name, plan.operations[step.call], with_)
