"""OpenAPI/Swagger schemas → self-contained JSON Schema (refs inlined, `allOf` merged).

Recursive schemas are cut (the inner occurrence becomes an untyped object), so the result is
always finite; keywords a JSON Schema consumer would misread are dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from naftiko.tools.oas_refs import Source, Where

MAX_DEPTH = 8
_KEPT = (
    "type",
    "format",
    "enum",
    "const",
    "default",
    "description",
    "title",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
)
_DROPPED_WITH_WARNING = ("not", "if", "then", "else", "patternProperties", "dependentSchemas")
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")


def flatten(source: Source, node: Any, where: Where, *, writing: bool = False) -> dict[str, Any]:
    """The schema at `node`, with every `$ref` resolved; `writing` drops readOnly properties
    (a request body), otherwise writeOnly ones (a response)."""
    return _Flattener(source, writing).run(node, where, 0, ())


# A sub-schema flattened one level deeper (same `$ref` stack): how the helpers recurse.
_Deeper = Callable[[Any, Where], dict[str, Any]]


class _Flattener:
    def __init__(self, source: Source, writing: bool) -> None:
        self.source = source
        self.writing = writing

    def run(self, node: Any, where: Where, depth: int, stack: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            key = f"{where.doc.file}#{ref}" if ref.startswith("#") else ref
            if key in stack or depth > MAX_DEPTH:
                return {"type": "object"}  # recursive: the inner level is left open
            target, there = self.source.deref(node, where)
            flat = self.run(target, there, depth + 1, (*stack, key))
            if isinstance(node.get("description"), str):  # 3.1 allows siblings of $ref
                flat["description"] = node["description"]
            return flat
        if node is True or node == {}:
            return {}
        if not isinstance(node, dict):
            self.source.warn(where, "schema is not an object; read as any value")
            return {}

        def deeper(sub: Any, at: Where) -> dict[str, Any]:
            return self.run(sub, at, depth + 1, stack)

        out: dict[str, Any] = {}
        for key in _KEPT:
            if key in node and _fits(key, node[key]):
                out[key] = node[key]
            elif key in node:
                self.source.warn(where.at(key), f"`{key}` is malformed; left out")
        self._nullable(node, out)
        for key in _DROPPED_WITH_WARNING:
            if key in node:
                self.source.warn(where.at(key), f"schema keyword {key!r} is not carried over")
        if "allOf" in node:
            self._all_of(node, where, deeper, out)
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                out[key] = [deeper(b, where.at(key, i)) for i, b in enumerate(node[key])]
        if "items" in node:
            out["items"] = deeper(node["items"], where.at("items"))
        if isinstance(node.get("properties"), dict):
            self._properties(node, where, deeper, out)
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif isinstance(extra, dict):
            out["additionalProperties"] = deeper(extra, where.at("additionalProperties"))
        return out

    def _nullable(self, node: dict[str, Any], out: dict[str, Any]) -> None:
        """OpenAPI 3.0 `nullable: true` (and Swagger's `x-nullable`) → a `null` type."""
        if (node.get("nullable") is True or node.get("x-nullable") is True) and isinstance(
            out.get("type"), str
        ):
            out["type"] = [out["type"], "null"]

    def _all_of(
        self, node: dict[str, Any], where: Where, deeper: _Deeper, out: dict[str, Any]
    ) -> None:
        parts = node["allOf"] if isinstance(node["allOf"], list) else []
        for i, part in enumerate(parts):
            flat = deeper(part, where.at("allOf", i))
            for key, value in flat.items():
                if key == "properties":
                    out.setdefault("properties", {}).update(value)
                elif key == "required":
                    out["required"] = sorted({*out.get("required", []), *value})
                else:
                    out.setdefault(key, value)
        if "properties" in out:
            out.setdefault("type", "object")

    def _properties(
        self, node: dict[str, Any], where: Where, deeper: _Deeper, out: dict[str, Any]
    ) -> None:
        props: dict[str, Any] = dict(out.get("properties", {}))
        hidden = "readOnly" if self.writing else "writeOnly"
        for name, sub in node["properties"].items():
            target, _ = self.source.deref(sub, where.at("properties", name))
            if isinstance(target, dict) and target.get(hidden) is True:
                continue
            props[name] = deeper(sub, where.at("properties", name))
        out["properties"] = props
        if isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r in props]
            if not out["required"]:
                del out["required"]
        out.setdefault("type", "object")


_TEXT = frozenset({"format", "description", "title", "pattern"})
_COUNTS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties"})


def _fits(key: str, value: Any) -> bool:
    """Whether a keyword's value has the shape JSON Schema gives it (a document may lie)."""
    if key in _TEXT:
        return isinstance(value, str)
    if key == "type":
        kinds = value if isinstance(value, list) else [value]
        return bool(kinds) and all(isinstance(k, str) for k in kinds)
    if key == "required":
        return isinstance(value, list) and all(isinstance(r, str) for r in value)
    if key == "enum":
        return isinstance(value, list) and bool(value)
    if key in _COUNTS or key == "maxProperties":
        return isinstance(value, int) and not isinstance(value, bool)
    if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if key == "uniqueItems":
        return isinstance(value, bool)
    return True  # const, default: any value


def primary_type(schema: dict[str, Any], default: str = "string") -> str:
    """One of the six JSON types for a Naftiko parameter: the schema's (non-null) type, or
    what its shape implies."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "file":  # Swagger 2.0 form uploads
        return "string"
    if kind in JSON_TYPES:
        return str(kind)
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    kinds = {primary_type(b, "") for b in branches if isinstance(b, dict)} - {""}
    if len(kinds) == 1:
        return kinds.pop()
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        first = enum[0]
        if isinstance(first, bool):
            return "boolean"
        if isinstance(first, int):
            return "integer"
        if isinstance(first, float):
            return "number"
    return default
