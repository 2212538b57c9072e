"""The tolerant-reading rules of SEMANTICS §11.3, in one place, each with a located warning.

Runs on the raw data before it becomes models: it renames or fills what the real-world dialect
spells differently and reports every departure from the official alpha2 schema, so that a file
that loads here is never silently re-interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from naftiko.expressions import Var, has_single_braces, parse_template, rewrite
from naftiko.vocabulary import HTTP_METHODS

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey

_KEBAB = re.compile(r"^[a-zA-Z0-9-]+$")
_CONSUMED_PARAM_SCHEMA_KEYS = {"name", "in", "value"}
_TOOL_PARAM_SCHEMA_KEYS = {"name", "type", "description", "required"}
# `{{tools.amount}}` / `{{rest.amount}}` in a consumed template: the caller's `amount`.
_ADAPTER_PREFIXES = ("tools.", "rest.", "mcp.")


def normalise(data: dict[str, Any], ctx: LoadContext) -> None:
    _info(data, ctx)
    body = data.get("capability")
    bound = _bound_names(data)
    if isinstance(body, dict):
        for i, consumes in _items(body, "consumes"):
            _consumes(consumes, ("capability", "consumes", i), ctx, bound)
        for i, adapter in _items(body, "exposes"):
            _adapter(adapter, ("capability", "exposes", i), ctx, bound)
        for i, agg in _items(body, "aggregates"):
            for j, fn in _items(agg, "functions"):
                _unit(fn, ("capability", "aggregates", i, "functions", j), ctx)
    for i, consumes in _items(data, "consumes"):
        _consumes(consumes, ("consumes", i), ctx, bound)


def _items(parent: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    values = parent.get(key) if isinstance(parent, dict) else None
    if isinstance(values, list):
        for i, value in enumerate(values):
            if isinstance(value, dict):
                yield i, value


def _info(data: dict[str, Any], ctx: LoadContext) -> None:
    info = data.get("info")
    if not isinstance(info, dict):
        return
    if "label" not in info and isinstance(info.get("title"), str):
        info["label"] = info.pop("title")
        ctx.warn(("info", "title"), "`info.title` read as `info.label`", key=True)


def _kebab(value: Any, path: PathKey, ctx: LoadContext) -> None:
    if isinstance(value, str) and value and not _KEBAB.match(value):
        ctx.warn(path, f"{value!r} is not kebab-case ([a-zA-Z0-9-]); accepted as a label")


def _consumes(
    consumes: dict[str, Any], at: PathKey, ctx: LoadContext, bound: frozenset[str]
) -> None:
    base = consumes.get("baseUri")
    if isinstance(base, str) and base.endswith("/") and len(base) > 1:
        consumes["baseUri"] = base.rstrip("/")
        ctx.warn((*at, "baseUri"), "trailing `/` removed from baseUri")
    _auth(consumes, at, ctx, bound)
    _consumed_params(consumes, at, ctx, bound)
    for r, resource in _items(consumes, "resources"):
        rat = (*at, "resources", r)
        _kebab(resource.get("name"), (*rat, "name"), ctx)
        _single_braces(resource.get("path"), (*rat, "path"), ctx)
        _consumed_params(resource, rat, ctx, bound)
        for o, op in _items(resource, "operations"):
            oat = (*rat, "operations", o)
            _method(op, oat, ctx)
            _adapter_refs(op, oat, ctx)
            _consumed_params(op, oat, ctx, bound)
            if "path" in op:
                ctx.warn(
                    (*oat, "path"),
                    "`path` on an operation overrides its resource's path",
                )
                _single_braces(op.get("path"), (*oat, "path"), ctx)
            body = op.get("body")
            if isinstance(body, dict) and "data" not in body:
                ctx.warn(
                    (*oat, "body"),
                    "body without `data`: built from `in: body` parameters",
                )


def _adapter_refs(node: Any, at: PathKey, ctx: LoadContext) -> None:
    """Published specs write `{{tools.X}}` / `{{rest.X}}` in consumed bodies and parameters
    (as `with` does with `tools.X`): read as the caller's input `X`, which the unit then
    advertises, instead of a variable that nothing can ever set."""
    items = node.items() if isinstance(node, dict) else enumerate(node or ())
    if not isinstance(node, dict | list):
        return
    for key, value in list(items):
        if isinstance(value, str) and (rewritten := _without_adapter_refs(value)) != value:
            node[key] = rewritten
            ctx.warn((*at, key), "`{{tools.X}}` / `{{rest.X}}` read as the caller's input `X`")
        elif isinstance(value, dict | list) and key not in ("outputParameters", "path"):
            _adapter_refs(value, (*at, key), ctx)


def _without_adapter_refs(text: str) -> str:
    def caller_input(var: Var) -> str | None:
        _, dot, name = var.name.partition(".")
        simple = dot and "." not in name and var.name.startswith(_ADAPTER_PREFIXES)
        return "{{" + name + "}}" if simple else None

    return rewrite(parse_template(text), caller_input)


def _single_braces(path: Any, at: PathKey, ctx: LoadContext) -> None:
    if isinstance(path, str) and has_single_braces(path):
        ctx.warn(at, "single-brace `{name}` path variables read as `{{name}}`")


def _consumed_params(
    parent: dict[str, Any], at: PathKey, ctx: LoadContext, bound: frozenset[str]
) -> None:
    for p, param in _items(parent, "inputParameters"):
        _bare_variable(param, "value", (*at, "inputParameters", p), ctx, bound)
        extra = sorted(set(param) - _CONSUMED_PARAM_SCHEMA_KEYS - {"template"})
        known = [k for k in extra if k in ("type", "description", "required", "pattern")]
        if known:
            msg = f"consumed parameter carries {', '.join(known)}: used for validation and schemas"
            ctx.warn((*at, "inputParameters", p), msg)


def _method(unit: dict[str, Any], at: PathKey, ctx: LoadContext) -> None:
    method = unit.get("method")
    if isinstance(method, str) and method.upper() in HTTP_METHODS and method != method.upper():
        unit["method"] = method.upper()
        ctx.warn((*at, "method"), f"method {method!r} read as {method.upper()!r}")


def _bound_names(data: dict[str, Any]) -> frozenset[str]:
    body = data.get("capability")
    binds = [*_items(data, "binds"), *(_items(body, "binds") if isinstance(body, dict) else [])]
    return frozenset(
        str(var) for _, bind in binds if isinstance(bind.get("keys"), dict) for var in bind["keys"]
    )


def _bare_variable(
    holder: dict[str, Any], field: str, at: PathKey, ctx: LoadContext, bound: frozenset[str]
) -> None:
    """The tutorial's step 11 writes `token: "REGISTRY_TOKEN"` (braces lost in its docs): a
    bound variable's bare name as a credential or parameter value means the variable."""
    value = holder.get(field)
    if isinstance(value, str) and value in bound:
        holder[field] = "{{" + value + "}}"
        ctx.warn((*at, field), f"{value!r} read as the bound variable {{{{{value}}}}}")


def _auth(parent: dict[str, Any], at: PathKey, ctx: LoadContext, bound: frozenset[str]) -> None:
    auth = parent.get("authentication")
    if not isinstance(auth, dict):
        return
    for field in ("token", "value", "username", "password", "clientId", "clientSecret"):
        _bare_variable(auth, field, (*at, "authentication"), ctx, bound)
    kind = auth.get("type")
    if kind == "aws-sig-v4":
        ctx.warn(
            (*at, "authentication", "type"),
            "aws-sig-v4 is outside the alpha2 schema: upstream requests are signed (SigV4)",
        )
    elif kind not in ("basic", "digest", "bearer", "apikey", "oauth2"):
        ctx.warn(
            (*at, "authentication", "type"),
            f"authentication type {kind!r} is not supported",
        )
    if kind == "apikey" and "headers" in auth:
        ctx.warn(
            (*at, "authentication", "headers"),
            "apikey `headers` map: each header is sent",
        )


def _adapter(adapter: dict[str, Any], at: PathKey, ctx: LoadContext, bound: frozenset[str]) -> None:
    kind = adapter.get("type")
    if kind in ("rest", "control") and "description" in adapter:
        ctx.warn(
            (*at, "description"),
            f"`description` on a {kind} adapter: documentation only",
        )
    _auth(adapter, at, ctx, bound)
    if kind == "rest":
        for r, resource in _items(adapter, "resources"):
            for o, op in _items(resource, "operations"):
                _method(op, (*at, "resources", r, "operations", o), ctx)
                _unit(op, (*at, "resources", r, "operations", o), ctx)
    elif kind == "mcp":
        for t, tool in _items(adapter, "tools"):
            tat = (*at, "tools", t)
            if not tool.get("description") and not tool.get("ref"):
                ctx.warn(tat, "tool without a description: agents see only its name")
            for p, param in _items(tool, "inputParameters"):
                extra = sorted(set(param) - _TOOL_PARAM_SCHEMA_KEYS)
                if extra:
                    msg = f"tool parameter carries {', '.join(extra)}, outside the schema"
                    ctx.warn((*tat, "inputParameters", p), msg)
            _unit(tool, tat, ctx)
        for r, resource in _items(adapter, "resources"):
            _unit(resource, (*at, "resources", r), ctx)
    elif kind == "skill":
        for s, skill in _items(adapter, "skills"):
            for t, tool in _items(skill, "tools"):
                if not tool.get("description"):
                    ctx.warn(
                        (*at, "skills", s, "tools", t),
                        "skill tool without a description",
                    )


def _unit(unit: dict[str, Any], at: PathKey, ctx: LoadContext) -> None:
    for o, out in _items(unit, "outputParameters"):
        _output(out, (*at, "outputParameters", o), ctx)


def _output(out: dict[str, Any], at: PathKey, ctx: LoadContext) -> None:
    kind = out.get("type")
    if kind == "object" and "properties" not in out and "mapping" in out:
        ctx.warn(at, "object output without `properties`: the mapped value is passed through")
    if kind == "array" and "items" not in out and "mapping" in out:
        ctx.warn(at, "array output without `items`: the mapped array is passed through")
    props = out.get("properties")
    if isinstance(props, dict):
        for name, child in props.items():
            if isinstance(child, dict):
                _output(child, (*at, "properties", name), ctx)
    items = out.get("items")
    if isinstance(items, dict):
        _output(items, (*at, "items"), ctx)
