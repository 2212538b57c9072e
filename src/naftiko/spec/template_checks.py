"""Load-time check that every dotted `{{a.b}}` in a consumed request template can ever have a
value: `a` must be a bind namespace, `env`, or a step (whose output later steps read). Anything
else would render as nothing on every call, so it is a located error instead."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

from naftiko.errors import Problem
from naftiko.expressions import parse_template
from naftiko.model import Capability, ConsumesHttp, StructuredBody

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey


def check_dotted_variables(
    cap: Capability, ctx: LoadContext, errors: list[Problem], steps: Collection[str]
) -> None:
    """`steps`: the name of every step of every unit (what a `{{step.field}}` may name)."""
    if cap.capability is None:
        return  # a shared consumes file: its callers' steps are not known here
    known = {b.namespace for b in (*cap.binds, *cap.body.binds)} | {"env"} | set(steps)
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
