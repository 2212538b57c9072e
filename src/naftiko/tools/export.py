"""`naftiko export openapi`: the document a REST adapter serves at `/openapi.json`, as a file.

The document comes from the adapter's own generator (`adapters/openapi.py`) over the same plan
`run` builds, so the export and the served document cannot drift. Secrets are not needed: every
credential variable is given a placeholder, and no secret reaches the document.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from naftiko.adapters.openapi import openapi_document
from naftiko.engine.exposed import rest_plan
from naftiko.engine.planner import build_plan
from naftiko.errors import Location, SpecError
from naftiko.expressions import parse_template
from naftiko.model import ExposesRest
from naftiko.model.capability import Capability
from naftiko.spec.bindings import Bindings
from naftiko.spec.loader import load

_PLACEHOLDER = "exported-without-secrets"


def export_openapi(
    spec: Path, *, adapter: str | None = None, spec_version: str = "3.1"
) -> dict[str, Any]:
    capability = load(spec)
    rests = [(i, e) for i, e in enumerate(capability.body.exposes) if isinstance(e, ExposesRest)]
    chosen = [(i, e) for i, e in rests if adapter is None or e.namespace == adapter]
    if not chosen:
        names = [e.namespace for _, e in rests]
        what = f"no REST adapter {adapter!r} (it has: {names})" if adapter else "no REST adapter"
        raise SpecError.single(Location(str(spec)), what)
    index, rest = chosen[0]
    plan = build_plan(capability, _placeholder_bindings(capability))
    document = openapi_document(rest_plan(plan, index, rest))
    return to_30(document) if spec_version == "3.0" else document


def _placeholder_bindings(capability: Capability) -> Bindings:
    """Every bound variable, and every variable an adapter's credentials name, set to a
    placeholder; the process environment as `run` would see it otherwise."""
    by_namespace: dict[str, dict[str, str]] = {}
    flat: dict[str, str] = {}
    for bind in (*capability.binds, *capability.body.binds):
        values = by_namespace.setdefault(bind.namespace, {})
        for var in bind.keys:
            values[var] = flat[var] = _PLACEHOLDER
    environ = dict(os.environ)
    for exposed in capability.body.exposes:
        auth = getattr(exposed, "authentication", None)
        for text in auth.model_dump().values() if auth is not None else ():
            if not isinstance(text, str):
                continue
            for name in (v.name for v in parse_template(text).variables):
                head, _, rest = name.partition(".")
                if rest and head == "env":
                    environ.setdefault(rest, _PLACEHOLDER)
                elif name not in flat:
                    flat[name] = _PLACEHOLDER
    return Bindings(by_namespace, flat, environ)


def to_30(document: dict[str, Any]) -> dict[str, Any]:
    """The same document as OpenAPI 3.0.3: `null` in a type list becomes `nullable`, `const`
    an one-value `enum`, and `examples` arrays the single `example`."""
    out: dict[str, Any] = _schema_30(document)
    out["openapi"] = "3.0.3"
    return out


def _schema_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema_30(v) for k, v in node.items()}
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            del out["type"]
            out["anyOf"] = [{"type": k} for k in kinds]
    if "const" in out and "enum" not in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list) and "schema" not in out:
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    return out
