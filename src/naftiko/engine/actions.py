"""`action_for`: one exposed unit (REST operation, MCP tool, aggregate function...) made an
`Action`: its mode, its `with`, its steps, and its inputs, declared or derived (§11.3 rule 8)."""

from __future__ import annotations

from typing import Any

from naftiko.engine.inputs import Input, declared_input
from naftiko.engine.outputs import is_passthrough
from naftiko.engine.plan import (
    Action,
    CallStepPlan,
    ConsumedParam,
    LookupStepPlan,
    Mode,
    Operation,
    Plan,
    ScriptStepPlan,
    StepPlan,
)
from naftiko.expressions import (
    Ref,
    StepPath,
    Template,
    WithValue,
    norm,
    parse_step_path,
    parse_template,
    parse_with_value,
)
from naftiko.model import (
    InputParameter,
    LookupStep,
    McpToolHints,
    ScriptStep,
)
from naftiko.model.capability import AggregateFunction
from naftiko.model.exposes import _Unit


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
