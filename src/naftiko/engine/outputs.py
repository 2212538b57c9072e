"""Output mapping (SEMANTICS §4, the [R] projector): JSON tree → the unit's declared shape."""

from __future__ import annotations

import math
from typing import Any

from naftiko.engine.scope import Scope
from naftiko.expressions import compile_jsonpath, number_from_text, parse_template, to_text
from naftiko.model import OutputParameter


def is_passthrough(outputs: tuple[OutputParameter, ...]) -> bool:
    """No outputs, or one object/array output without shape mapped at the root."""
    if not outputs:
        return True
    if len(outputs) != 1:
        return False
    out = outputs[0]
    shapeless = (out.type == "object" and not out.properties) or (
        out.type == "array" and out.items is None
    )
    return shapeless and out.value is None and (out.mapping or "$").strip() in ("$", "$.")


def map_outputs(outputs: tuple[OutputParameter, ...], root: Any, scope: Scope) -> Any:
    """The first non-null output is the body (§4.4); no outputs → the root unchanged."""
    if not outputs:
        return root
    for out in outputs:
        value = project(out, root, scope)
        if value is not None:
            return value
    return root


def project(out: OutputParameter, node: Any, scope: Scope) -> Any:
    if out.const is not None:
        return out.const
    if out.value is not None and out.mapping is None:
        return _static(out, scope)
    target = compile_jsonpath(out.mapping).find(node) if out.mapping is not None else node
    if out.type == "object":
        if not out.properties:
            return target if out.mapping is not None else None
        return _object(out, node, target, scope)
    if out.type == "array":
        if not isinstance(target, list):
            return None
        if out.items is None:
            return target
        return [_item(out.items, element, scope) for element in target]
    return coerce(out.type, target, out.maxLength)


def _object(out: OutputParameter, root: Any, target: Any, scope: Scope) -> Any:
    """Properties evaluate against the object's own mapping when it has one; a property that
    finds nothing there falls back to the outer root (the reference engine's reading)."""
    if out.mapping is not None and target is None:
        return None
    result: dict[str, Any] = {}
    for name, prop in (out.properties or {}).items():
        value = project(prop, target, scope)
        if value is None and target is not root and prop.mapping is not None:
            value = project(prop, root, scope)
        result[name] = value
    return result


def _item(items: OutputParameter, element: Any, scope: Scope) -> Any:
    if items.properties:
        return (
            _object(items, element, element, scope)
            if items.mapping is None
            else project(items, element, scope)
        )
    if items.mapping is not None or items.value is not None or items.const is not None:
        return project(items, element, scope)
    return element


def coerce(kind: str, value: Any, max_length: int | None = None) -> Any:
    """Typed scalars: `"42"` → 42 for numbers, `"true"` → true, numbers → text for strings."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity: such a number is unknown, not a 500
    if kind in ("number", "integer") and isinstance(value, str):
        number = number_from_text(value)
        if number is None:
            return value
        return number if math.isfinite(number) else None
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        value = to_text(value)
    if kind == "string" and isinstance(value, str) and max_length is not None:
        return value[:max_length]
    return value


def _static(out: OutputParameter, scope: Scope) -> Any:
    raw = out.value
    if not isinstance(raw, str):
        return raw if out.type != "string" else to_text(raw)
    text = parse_template(raw).render(scope.get, encode=to_text)
    return coerce(out.type, text) if out.type in ("number", "integer", "boolean") else text


def mock(outputs: tuple[OutputParameter, ...], scope: Scope) -> dict[str, Any]:
    """Mock mode (§4.5): an object keyed by output name, built from `value`/`const`."""
    result: dict[str, Any] = {}
    for out in outputs:
        value = _mock_value(out, scope)
        if value is not None:
            result[out.name or "value"] = value
    return result


def _mock_value(out: OutputParameter, scope: Scope) -> Any:
    if out.const is not None:
        return out.const
    if out.type == "object" and out.properties:
        built = {
            name: v
            for name, prop in out.properties.items()
            if (v := _mock_value(prop, scope)) is not None
        }
        return built or None
    if out.type == "array" and out.items is not None:
        item = _mock_value(out.items, scope)
        return [item] if item is not None else None
    if out.value is not None:
        return _static(out, scope)
    return None
