"""Load-time checks: a typo in a spec is a located error from `validate`, never a 500 later."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from naftiko.errors import Problem
from naftiko.expressions import (
    ExpressionError,
    Ref,
    compile_jsonpath,
    looks_like_reference,
    norm,
    parse_step_path,
    parse_template,
    parse_with_value,
    unbalanced_braces,
)
from naftiko.model import (
    Binding,
    CallStep,
    Capability,
    ConsumesHttp,
    ExposesMcp,
    ExposesRest,
    InputParameter,
    LookupStep,
    OutputParameter,
)
from naftiko.model.base import Model
from naftiko.model.exposes import _Unit
from naftiko.spec.adapter_checks import check_adapters
from naftiko.spec.files import resolve_location
from naftiko.spec.template_checks import check_dotted_variables
from naftiko.spec.upstream_checks import caller_inputs
from naftiko.vocabulary import HTTP_METHODS

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey

FORMATS = frozenset({"json", "xml", "yaml", "csv", "tsv", "psv", "html", "markdown"})
BINARY_FORMATS = frozenset({"avro", "protobuf"})


def check(cap: Capability, ctx: LoadContext) -> list[Problem]:
    errors: list[Problem] = []
    body = cap.body
    root = ("capability",) if cap.capability is not None else ()
    consumes: dict[str, ConsumesHttp] = {}
    for c in body.consumes:
        consumes.setdefault(c.namespace, c)  # a duplicate is reported below; the first serves
    _unique(
        [c.namespace for c in body.consumes],
        (*root, "consumes"),
        "consumes",
        ctx,
        errors,
    )
    names = [getattr(a, "namespace", None) for a in body.exposes]
    _unique(names, (*root, "exposes"), "exposes", ctx, errors)
    aggs = [a.namespace for a in body.aggregates]
    _unique(aggs, (*root, "aggregates"), "aggregates", ctx, errors)
    for i, c in enumerate(body.consumes):
        _check_consumes(c, (*root, "consumes", i), ctx, errors)
    for i, c in enumerate(cap.consumes):
        _check_consumes(c, ("consumes", i), ctx, errors)
    functions = {f"{a.namespace}.{f.name}" for a in body.aggregates for f in a.functions}
    index = _Index(consumes, _operation_names(consumes), frozenset(functions))
    units = list(_units(cap))
    for path, unit, namespace, inputs in units:
        _check_unit(unit, path, namespace, inputs, index, ctx, errors)
    check_adapters(cap, ctx, errors)
    check_dotted_variables(cap, ctx, errors, {s.name for _, u, _, _ in units for s in u.steps})
    _check_parameters(cap, ctx, errors)
    _check_bind_files(cap, ctx)
    if cap.capability is not None and not body.exposes and not body.consumes:
        errors.append(ctx.problem(("capability",), "a capability needs `exposes` or `consumes`"))
    return errors


def _unique(
    names: Sequence[str | None],
    at: PathKey,
    what: str,
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            msg = f"duplicate {what} namespace {name!r} (first declared at index {seen[name]})"
            errors.append(ctx.problem((*at, i, "namespace"), msg))
        else:
            seen[name] = i


def _check_consumes(c: ConsumesHttp, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    _template(c.baseUri, (*at, "baseUri"), ctx, errors)
    base = c.baseUri.strip()
    if not base:
        ctx.warn((*at, "baseUri"), "empty baseUri: calls to this API cannot be made")
    elif not base.startswith(("http://", "https://", "{{")):
        msg = f"baseUri {base!r} needs an http:// or https:// scheme"
        errors.append(ctx.problem((*at, "baseUri"), msg))
    auth = c.authentication
    caller_inputs(c.inputParameters, (*at, "inputParameters"), auth, ctx, errors)
    ops: dict[str, PathKey] = {}
    for r, resource in enumerate(c.resources):
        rat = (*at, "resources", r)
        caller_inputs(resource.inputParameters, (*rat, "inputParameters"), auth, ctx, errors)
        for o, op in enumerate(resource.operations):
            oat = (*rat, "operations", o, "inputParameters")
            caller_inputs(op.inputParameters, oat, auth, ctx, errors)
        _template(resource.path, (*rat, "path"), ctx, errors)
        for o, op in enumerate(resource.operations):
            oat = (*rat, "operations", o)
            if op.name in ops:
                # `call` has no resource part, so only the first of the namesakes is reachable.
                msg = (
                    f"duplicate operation name {op.name!r} in consumes {c.namespace!r}: unreachable"
                )
                ctx.warn((*oat, "name"), msg)
            ops.setdefault(op.name, oat)
            if op.method.upper() not in HTTP_METHODS:
                msg = f"invalid HTTP method {op.method!r} (expected one of {sorted(HTTP_METHODS)})"
                errors.append(ctx.problem((*oat, "method"), msg))
            fmt = op.outputRawFormat.lower()
            if fmt in BINARY_FORMATS:
                if not op.outputSchema:
                    msg = f"outputRawFormat {fmt} needs an outputSchema: `run` refuses to start"
                    ctx.warn((*oat, "outputRawFormat"), msg)
            elif fmt not in FORMATS:
                msg = f"unknown outputRawFormat {op.outputRawFormat!r} (expected {sorted(FORMATS)})"
                errors.append(ctx.problem((*oat, "outputRawFormat"), msg))
            if op.path is not None:
                _template(op.path, (*oat, "path"), ctx, errors)
            for p, out in enumerate(op.outputParameters):
                if isinstance(out.value, str) and out.value.strip().startswith("$"):
                    _jsonpath(out.value, (*oat, "outputParameters", p, "value"), ctx, errors)


def _template(text: str, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    offset = unbalanced_braces(text)
    if offset is not None:
        errors.append(ctx.problem(at, f"unbalanced braces at character {offset + 1} of {text!r}"))


def _jsonpath(text: str, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    try:
        compile_jsonpath(text)
    except ExpressionError as exc:
        errors.append(ctx.problem(at, str(exc)))


Inputs = tuple[str, frozenset[str]] | None  # (kind, declared names) or None when derived


def _units(cap: Capability) -> Iterator[tuple[PathKey, _Unit, str, Inputs]]:
    """Every executable unit: its path, the namespace its `with` references use, and the
    inputs it declares (None when they are derived, SEMANTICS §11.3 rule 8)."""
    body = cap.body
    for i, adapter in enumerate(body.exposes):
        at: PathKey = ("capability", "exposes", i)
        if isinstance(adapter, ExposesRest):
            for r, resource in enumerate(adapter.resources):
                shared = [*adapter.inputParameters, *resource.inputParameters]
                path_vars = {
                    v.name for v in parse_template(resource.path, single_braces=True).variables
                }
                for o, op in enumerate(resource.operations):
                    names = {norm(p.name) for p in (*shared, *op.inputParameters)}
                    names |= {norm(v) for v in path_vars} | {"body"}
                    where = (*at, "resources", r, "operations", o)
                    yield where, op, adapter.namespace, ("rest", frozenset(names))
        elif isinstance(adapter, ExposesMcp):
            for t, tool in enumerate(adapter.tools):
                declared = _declared("tool", tool.inputParameters)
                yield (*at, "tools", t), tool, adapter.namespace, declared
            for r, res in enumerate(adapter.resources):
                variables = frozenset(
                    norm(v.name) for v in parse_template(res.uri, single_braces=True).variables
                )
                yield (*at, "resources", r), res, adapter.namespace, ("resource", variables)
    for a, agg in enumerate(body.aggregates):
        for f, fn in enumerate(agg.functions):
            where = ("capability", "aggregates", a, "functions", f)
            yield where, fn, agg.namespace, _declared("function", fn.inputParameters)


def _declared(kind: str, params: Sequence[InputParameter]) -> Inputs:
    return (kind, frozenset(norm(p.name) for p in params)) if params else None


@dataclass(frozen=True)
class _Index:
    """What `call` and `ref` may name, built once per load."""

    consumes: Mapping[str, ConsumesHttp]
    operations: Mapping[str, frozenset[str]]
    functions: frozenset[str]


def _operation_names(consumes: Mapping[str, ConsumesHttp]) -> dict[str, frozenset[str]]:
    return {
        ns: frozenset(op.name for r in c.resources for op in r.operations)
        for ns, c in consumes.items()
    }


def _check_unit(
    unit: _Unit,
    at: PathKey,
    namespace: str,
    inputs: Inputs,
    index: _Index,
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    if unit.call is not None:
        _call(unit.call, (*at, "call"), index, ctx, errors)
    if unit.ref and unit.ref not in index.functions:
        known = ", ".join(sorted(index.functions)) or "none declared"
        msg = f"ref {unit.ref!r} names no aggregate function (known: {known})"
        errors.append(ctx.problem((*at, "ref"), msg))
    _with(unit.with_, (*at, "with"), namespace, inputs, ctx, errors)
    seen_steps: set[str] = set()
    for s, step in enumerate(unit.steps):
        sat = (*at, "steps", s)
        if isinstance(step, CallStep):
            _call(step.call, (*sat, "call"), index, ctx, errors)
            _with(step.with_, (*sat, "with"), namespace, inputs, ctx, errors)
        elif isinstance(step, LookupStep) and step.index not in seen_steps:
            msg = f"lookup index {step.index!r} is not an earlier step of this unit"
            errors.append(ctx.problem((*sat, "index"), msg))
        if step.name in seen_steps:
            errors.append(ctx.problem((*sat, "name"), f"duplicate step name {step.name!r}"))
        seen_steps.add(step.name)
    for m, mapping in enumerate(unit.mappings):
        if parse_step_path(mapping.value) is None:
            msg = f"mapping value {mapping.value!r} must be a step path such as $.step.field"
            errors.append(ctx.problem((*at, "mappings", m, "value"), msg))
    for p, out in enumerate(unit.outputParameters):
        _outputs(out, (*at, "outputParameters", p), ctx, errors)


def _call(
    target: str,
    at: PathKey,
    index: _Index,
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    namespace, dot, op_name = target.strip().partition(".")
    if not dot or not op_name or "." in op_name:
        msg = f"call {target!r} must be `<consumes namespace>.<operation name>`"
        errors.append(ctx.problem(at, msg))
        return
    consumes = index.consumes
    adapter = consumes.get(namespace)
    if adapter is None:
        known = ", ".join(sorted(consumes)) or "none declared"
        msg = f"call {target!r}: no consumes namespace {namespace!r} (known: {known})"
        errors.append(ctx.problem(at, msg))
        return
    if op_name in index.operations[namespace]:
        return
    ops = [op.name for r in adapter.resources for op in r.operations]
    resources = {r.name: [op.name for op in r.operations] for r in adapter.resources}
    if op_name in resources:
        hint = f"; {op_name!r} is a resource, its operations are {resources[op_name]}"
    else:
        hint = f"; its operations are {ops}" if len(ops) <= 12 else ""
    msg = f"call {target!r}: consumes {namespace!r} has no operation {op_name!r}{hint}"
    errors.append(ctx.problem(at, msg))


def _with(
    values: dict[str, object] | None,
    at: PathKey,
    namespace: str,
    inputs: Inputs,
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    for key, value in (values or {}).items():
        parsed = parse_with_value(value, frozenset({namespace}))
        if isinstance(parsed, Ref):
            said = _reference(parsed, str(value), namespace, inputs)
            if said is not None:
                message, is_error = said
                if is_error:
                    errors.append(ctx.problem((*at, key), message))
                else:
                    ctx.warn((*at, key), message)
        elif isinstance(value, str) and looks_like_reference(value):
            ctx.warn((*at, key), f"{value!r} looks like a reference but is sent as a literal")


def _reference(ref: Ref, text: str, namespace: str, inputs: Inputs) -> tuple[str, bool] | None:
    """What a `with` reference deserves: (the message, whether it is an error), or None."""
    if inputs is not None and norm(ref.name) not in inputs[1]:
        kind, names = inputs
        if kind == "rest":
            return (
                f"{text!r}: {ref.name!r} is no path variable or declared input; "
                "read from the query",
                False,
            )
        known = ", ".join(sorted(names)) or "none"
        return f"{text!r}: this {kind} declares no input {ref.name!r} (declared: {known})", True
    if ref.prefix != namespace:
        return f"{text!r} read as a reference to input {norm(ref.name)!r} of this unit", False
    return None


def _outputs(out: OutputParameter, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    if out.mapping is not None:
        _jsonpath(out.mapping, (*at, "mapping"), ctx, errors)
    for name, child in (out.properties or {}).items():
        _outputs(child, (*at, "properties", name), ctx, errors)
    if out.items is not None:
        _outputs(out.items, (*at, "items"), ctx, errors)


INPUT_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


def _check_parameters(cap: Capability, ctx: LoadContext, errors: list[Problem]) -> None:
    """Every parameter's `type` is a JSON type and its `pattern` a valid regular expression."""
    for at, node in _models(cap, ()):
        kind = node.type if isinstance(node, InputParameter | OutputParameter) else None
        if kind is not None and kind not in INPUT_TYPES:
            msg = f"unknown type {kind!r} (expected one of {sorted(INPUT_TYPES)})"
            errors.append(ctx.problem((*at, "type"), msg))
        if isinstance(node, InputParameter) and node.pattern is not None:
            import regex  # what the engine matches with (engine/inputs.py), loaded when needed

            try:
                regex.compile(node.pattern)
            except regex.error as exc:
                msg = f"invalid pattern {node.pattern!r}: {exc}"
                errors.append(ctx.problem((*at, "pattern"), msg))


@functools.cache
def _keys(model: type[Model]) -> dict[str, str]:
    """A model's field names → the keys written in the file (their aliases)."""
    return {name: info.alias or name for name, info in model.model_fields.items()}


def _models(root: Any, at: PathKey) -> list[tuple[PathKey, Model]]:
    """Every model in the tree, with its path (keys as written in the file), in document
    order. A walk with its own stack, not nested generators: each model would climb one
    generator per level, and a spec with thousands of operations spent a tenth of its load
    time here."""
    found: list[tuple[PathKey, Model]] = []
    stack: list[tuple[PathKey, Any]] = [(at, root)]
    while stack:
        where, node = stack.pop()
        children: list[tuple[PathKey, Any]] = []
        if isinstance(node, Model):
            found.append((where, node))
            keys = _keys(type(node))
            for name, value in node.__dict__.items():
                if value is not None and not isinstance(value, str | int | float):
                    children.append(((*where, keys.get(name, name)), value))
        elif isinstance(node, list):
            children = [((*where, i), item) for i, item in enumerate(node)]
        elif isinstance(node, dict):
            children = [((*where, key), item) for key, item in node.items()]
        stack.extend(reversed(children))  # popped first to last: the order they are written
    return found


def _check_bind_files(cap: Capability, ctx: LoadContext) -> None:
    """A secrets file may be provided at deployment: missing now is a warning (`run` refuses)."""
    binds: list[tuple[PathKey, Binding]] = [(("binds", i), b) for i, b in enumerate(cap.binds)]
    binds += [(("capability", "binds", i), b) for i, b in enumerate(cap.body.binds)]
    for at, bind in binds:
        if bind.location and not resolve_location(bind.location, ctx.spec_dir).is_file():
            ctx.warn((*at, "location"), f"bind file {bind.location} not found (yet)")
