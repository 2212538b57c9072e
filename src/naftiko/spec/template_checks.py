"""Load-time check that every dotted `{{a.b}}` in a consumed request template can ever have a
value: `a` must be a bind namespace, `env`, or a step (whose output later steps read). Anything
else would render as nothing on every call, so it is a located error instead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from naftiko.errors import Problem
from naftiko.expressions import parse_template
from naftiko.model import Capability, ConsumesHttp, StructuredBody
from naftiko.model.steps import CallStep, LookupStep, ScriptStep

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey


def check_dotted_variables(cap: Capability, ctx: LoadContext, errors: list[Problem]) -> None:
    if cap.capability is None:
        return  # a shared consumes file: its callers' steps are not known here
    known = {b.namespace for b in (*cap.binds, *cap.body.binds)} | {"env"}
    known |= set(_step_names(cap.capability))
    for i, c in enumerate(cap.body.consumes):
        for text, at in _templates(c, ("capability", "consumes", i)):
            for var in parse_template(text, single_braces=True).variables:
                head, dot, _ = var.name.partition(".")
                if dot and head not in known:
                    msg = (
                        f"`{{{{{var.name}}}}}`: no bind namespace or step is called {head!r}, "
                        "so this would always render empty"
                    )
                    errors.append(ctx.problem(at, msg))


def _step_names(node: Any) -> Iterator[str]:
    if isinstance(node, CallStep | LookupStep | ScriptStep):
        yield node.name
    elif isinstance(node, list):
        for item in node:
            yield from _step_names(item)
    elif hasattr(type(node), "model_fields"):
        for name in type(node).model_fields:
            yield from _step_names(getattr(node, name))


def _templates(c: ConsumesHttp, at: PathKey) -> Iterator[tuple[str, PathKey]]:
    yield from _param_values(c.inputParameters, at)
    for r, resource in enumerate(c.resources):
        rat = (*at, "resources", r)
        yield resource.path, (*rat, "path")
        yield from _param_values(resource.inputParameters, rat)
        for o, op in enumerate(resource.operations):
            oat = (*rat, "operations", o)
            if op.path:
                yield op.path, (*oat, "path")
            yield from _param_values(op.inputParameters, oat)
            if isinstance(op.body, str):
                yield op.body, (*oat, "body")
            elif isinstance(op.body, StructuredBody):
                yield from ((text, (*oat, "body")) for text in _strings(op.body.data))


def _param_values(params: Any, at: PathKey) -> Iterator[tuple[str, PathKey]]:
    for p, param in enumerate(params):
        if isinstance(param.value, str):
            yield param.value, (*at, "inputParameters", p, "value")


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
