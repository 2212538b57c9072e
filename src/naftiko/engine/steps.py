"""What orchestration steps (SEMANTICS §7) compute, as plain functions over a step's data:
a call step's output, a lookup's match, the final `mappings`. `Engine` walks the steps."""

from __future__ import annotations

from typing import Any

from naftiko.engine.formats import parse_body
from naftiko.engine.plan import Action, CallStepPlan, LookupStepPlan, Operation, ScriptStepPlan
from naftiko.engine.scope import Scope
from naftiko.engine.transport import UpstreamResponse
from naftiko.expressions import MISSING, StepPath, compile_jsonpath, to_text
from naftiko.model import OutputParameter


def namespace(step: CallStepPlan | LookupStepPlan | ScriptStepPlan, action: Action) -> str:
    return step.operation.namespace if isinstance(step, CallStepPlan) else action.namespace


def kind(step: CallStepPlan | LookupStepPlan | ScriptStepPlan) -> str:
    if isinstance(step, CallStepPlan):
        return "call"
    return "lookup" if isinstance(step, LookupStepPlan) else "script"


def parsed(op: Operation, response: UpstreamResponse) -> Any:
    """The step's response read per its operation's `outputRawFormat`, like a single call."""
    if not response.body:
        return None
    return parse_body(response.body, op.fmt, output_schema=op.output_schema)


def step_output(outputs: tuple[OutputParameter, ...], raw: Any) -> Any:
    """Named consumed outputs: evaluated per element of an array (augmenting each), else an
    object of them; none declared → the raw JSON (SEMANTICS §7.2)."""
    named = [o for o in outputs if o.name and isinstance(o.value, str) and o.value.startswith("$")]
    if raw is None or not named:
        return raw
    if all(o.value in ("$", "$.") for o in named) and len(named) == 1:
        return raw
    if isinstance(raw, list):
        augmented = []
        for element in raw:
            if isinstance(element, dict):
                extra = {o.name: compile_jsonpath(str(o.value)).find(element) for o in named}
                augmented.append({**element, **{k: v for k, v in extra.items() if k}})
            else:
                augmented.append(element)
        return augmented
    return {o.name: compile_jsonpath(str(o.value)).find(raw) for o in named if o.name}


def lookup(step: LookupStepPlan, context: dict[str, Any], scope: Scope) -> Any:
    index = context.get(step.index)
    if index is None:
        return None
    if isinstance(step.value, StepPath):
        wanted = step.value.find(context)
        if wanted is MISSING or wanted is None:
            return None
    else:
        wanted = step.value.render(scope.get, encode=to_text)
    if isinstance(wanted, list):
        matches = [m for w in wanted if (m := _match(step, index, w)) is not None]
        return matches or None
    return _match(step, index, wanted)


def _match(step: LookupStepPlan, index: Any, wanted: Any) -> Any:
    rows = index if isinstance(index, list) else [index]
    text = to_text(wanted)
    for row in rows:
        if isinstance(row, dict) and step.match in row and to_text(row[step.match]) == text:
            return {name: row.get(name) for name in step.fields}
    return None


def mappings(mappings: tuple[tuple[str, StepPath], ...], context: dict[str, Any]) -> Any:
    result: dict[str, Any] = {}
    for target, path in mappings:
        value = path.find(context)
        if value is MISSING:
            continue
        node = result
        *parents, leaf = target.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return result
