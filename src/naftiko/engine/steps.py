"""Orchestration (SEMANTICS §7): call, lookup and script steps in order, then `mappings`.

Unlike the reference engine, a step whose upstream answers with an error stops the
orchestration: the caller gets that status and the failing step's name, never a later step's
data dressed as success.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from naftiko.engine.formats import parse_body
from naftiko.engine.plan import Action, CallStepPlan, LookupStepPlan, Operation, ScriptStepPlan
from naftiko.engine.result import Result
from naftiko.engine.scope import Scope
from naftiko.engine.transport import UpstreamResponse
from naftiko.expressions import MISSING, StepPath, compile_jsonpath, to_text
from naftiko.model import OutputParameter

Send = Callable[[Operation, dict[str, Any]], Awaitable[UpstreamResponse]]
WithApplier = Callable[[CallStepPlan | ScriptStepPlan, dict[str, Any]], dict[str, Any]]
Finish = Callable[[Operation, UpstreamResponse, dict[str, Any]], Result]


async def run(
    action: Action,
    params: dict[str, Any],
    scope_of: Callable[[dict[str, Any]], Scope],
    send: Send,
    with_for: WithApplier,
    finish: Finish,
) -> Result:
    runtime = dict(params)
    context: dict[str, Any] = {}
    last: tuple[Operation, UpstreamResponse, dict[str, Any]] | None = None
    for step in action.steps:
        if isinstance(step, CallStepPlan):
            call_params = with_for(step, runtime)
            response = await send(step.operation, call_params)
            if response.status >= 400:
                return step_failed(step.name, response)
            last = (step.operation, response, call_params)
            output = _step_output(step.operation.outputs, _parsed(step.operation, response))
            if output is not None:
                context[step.name] = output
                runtime[step.name] = output
        elif isinstance(step, LookupStepPlan):
            found = _lookup(step, context, scope_of(runtime))
            if found is not None:
                # Lookup outputs feed `mappings` only, as in the reference engine.
                context[step.name] = found
        else:
            # §7.4: `context` = runtime parameters + every step output + the step's `with`.
            bound = {**runtime, **context}
            assigned, value = await step.script.run(with_for(step, bound))
            if assigned:
                context[step.name] = value
                runtime[step.name] = value
    if action.mappings:
        mapped = _mappings(action.mappings, context)
        if mapped:
            return Result(200, mapped)
    if last is None:
        return Result(200, {})
    return finish(*last)


def _parsed(op: Operation, response: UpstreamResponse) -> Any:
    """The step's response read per its operation's `outputRawFormat`, like a single call."""
    if not response.body:
        return None
    return parse_body(response.body, op.fmt, output_schema=op.output_schema)


def step_failed(name: str, response: UpstreamResponse) -> Result:
    """problem+json naming the step, with the upstream's own error inside it."""
    text = response.body.decode("utf-8", errors="replace")
    upstream: Any = text[:2000]
    with contextlib.suppress(ValueError):
        upstream = json.loads(text) if text else None
    message = _upstream_message(upstream)
    detail = f"step {name!r} failed"
    problem = {
        "type": "about:blank",
        "title": "upstream error",
        "status": response.status,
        "detail": detail + (f": {message}" if message else ""),
        "step": name,
        "upstream": upstream,
    }
    body = json.dumps(problem, ensure_ascii=False).encode()
    return Result(response.status, raw=body, content_type="application/problem+json", error=True)


def _upstream_message(data: Any) -> str | None:
    if isinstance(data, str):
        return data.strip()[:300] or None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    for candidate in (error, data.get("message"), data.get("detail"), data.get("title")):
        if isinstance(candidate, str) and candidate:
            return candidate[:300]
    return None


def _step_output(outputs: tuple[OutputParameter, ...], raw: Any) -> Any:
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


def _lookup(step: LookupStepPlan, context: dict[str, Any], scope: Scope) -> Any:
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


def _mappings(mappings: tuple[tuple[str, StepPath], ...], context: dict[str, Any]) -> Any:
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
