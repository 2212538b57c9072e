"""JSON Schemas for the OpenAPI document: request bodies read by JSONPath, and response bodies
derived from declared outputs the way `engine/outputs.py` builds them."""

from __future__ import annotations

import re
from typing import Any

from naftiko.engine.inputs import Input
from naftiko.engine.plan import Action
from naftiko.model import OutputParameter

_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array"})
_DOTTED = re.compile(r"\$\.?([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)")

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}


def input_schema(spec: Input, *, nullable: bool) -> dict[str, Any]:
    """A JSON body input's schema as the runtime reads it: a string input also takes a number
    (as its text), and an optional input takes null (read as unset)."""
    schema = spec.json_schema()
    kind = schema.get("type")
    if isinstance(kind, str):
        kinds = [kind, "number"] if kind == "string" else [kind]
        schema["type"] = [*kinds, "null"] if nullable else kinds
        if len(schema["type"]) == 1:
            schema["type"] = kind
    return schema


def body_schema(inputs: list[Input]) -> dict[str, Any]:
    """The request body's shape: top-level fields, and fields a JSONPath reads (`$.user.id`)
    nested where the path puts them, each `required` where the input is."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for spec in inputs:
        path = [spec.name]
        if spec.body_path is not None:
            dotted = _DOTTED.fullmatch(spec.body_path.source.strip())
            if dotted is None:
                continue  # a filter or wildcard: no one place to document
            path = dotted.group(1).split(".")
        node = root
        for step in path[:-1]:
            child = node["properties"].setdefault(step, {"type": "object", "properties": {}})
            if spec.required:
                _require(node, step)
            node = child
        node["properties"][path[-1]] = input_schema(spec, nullable=not spec.required)
        if spec.required:
            _require(node, path[-1])
    return root


def _require(node: dict[str, Any], name: str) -> None:
    required: list[str] = node.setdefault("required", [])
    if name not in required:
        required.append(name)


def output_schema(action: Action) -> dict[str, Any]:
    """What a successful answer carries, as far as the spec fixes it: a mock's object, or the
    declared shape of a call's first output; `{}` (anything) where the upstream's JSON passes
    through or an orchestration answers (its mappings, or its last call when they find
    nothing)."""
    unit = action
    if action.mode == "ref" and action.delegate is not None:
        unit = action.delegate
    outputs = unit.outputs or action.outputs
    if unit.mode == "mock":
        return _mock_schema(outputs)
    if unit.mode != "call" or unit.passthrough or not outputs:
        return {}
    first = outputs[0]
    if first.const is not None or first.value is not None:
        return {}  # a static output beside mapped ones: whichever is first non-null wins
    if first.type == "object" and first.properties and first.mapping is None:
        return _projected(first)  # always an object, its properties null where not found
    if first.type == "array" and first.items is not None and unit.operation is not None:
        # JSON keeps its arrays; XML or CSV turned into JSON may give one object instead.
        return _projected(first) if unit.operation.fmt == "json" else {}
    return {}


def _projected(out: OutputParameter) -> dict[str, Any]:
    if out.const is not None:
        return {"const": out.const}
    if out.type == "object":
        if not out.properties:
            return {}
        properties = {name: _nullable(_projected(p)) for name, p in out.properties.items()}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if out.type == "array":
        items = _projected(out.items) if out.items is not None else {}
        return {"type": "array", "items": items}
    return _scalar(out.type)


def _mock_schema(outputs: tuple[OutputParameter, ...]) -> dict[str, Any]:
    """Mock mode builds an object keyed by output name, leaving out what has no value."""
    properties = {out.name or "value": _mock_value(out) for out in outputs}
    return {"type": "object", "properties": properties}


def _mock_value(out: OutputParameter) -> dict[str, Any]:
    if out.const is not None:
        return {"const": out.const}
    if out.type == "object" and out.properties:
        properties = {name: _mock_value(p) for name, p in out.properties.items()}
        return {"type": "object", "properties": properties}
    if out.type == "array" and out.items is not None:
        return {"type": "array", "items": _mock_value(out.items)}
    if out.type in ("number", "integer", "boolean"):
        # A value that does not read as its type stays the text it was.
        return {"type": [out.type, "string"]}
    return {"type": "string"}


def _scalar(kind: str) -> dict[str, Any]:
    if kind in ("number", "integer"):
        # `coerce` turns numeric text into a number and leaves anything else as it came.
        return {}
    return {"type": kind} if kind in _JSON_TYPES else {}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A mapped property that finds nothing is null."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return schema
