"""Caller arguments → validated, typed parameters, the same way for REST and MCP."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import naftiko.safejson as safejson
from naftiko.errors import InputError
from naftiko.expressions import JsonPath, compile_jsonpath, norm, number_from_text
from naftiko.model import InputParameter

if TYPE_CHECKING:
    import regex

# A real pattern checks a value in microseconds. One that backtracks catastrophically (`(a|a)+$`,
# many e-mail patterns found in OpenAPI documents) would take hours on a 40-character value,
# with the event loop serving no one meanwhile: past this bound the value is refused.
PATTERN_SECONDS = 0.1

# A caller's text is a number only as JSON writes one (RFC 8259 §6), the notation JSON Schema's
# `integer` and `number` are defined over: `+5`, ` 7`, `07` and `.5`, which Python's int() and
# float() read, are refused rather than silently normalised.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")


@dataclass(frozen=True)
class Input:
    """One input of an exposed unit, declared in the spec or derived from it (§11.3 rule 8)."""

    name: str
    location: str = "argument"  # path | query | header | cookie | body | argument
    type: str = "string"  # a JSON type, or "any" (a template variable the spec leaves untyped)
    description: str | None = None
    required: bool = True
    pattern: regex.Pattern[str] | None = None
    const: Any = None
    body_path: JsonPath | None = None
    enum: tuple[Any, ...] | None = None
    items: Mapping[str, Any] | None = None
    # A declared `schema` (formats, bounds, nested fields) is shown to clients as written;
    # validation enforces the fields above.
    schema: Mapping[str, Any] | None = None

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = dict(self.schema or {})
        if self.type != "any":
            schema["type"] = self.type if self.type in JSON_TYPES else "string"
        if self.description:
            schema["description"] = self.description
        if self.type == "array":
            # Some LLM clients reject arrays without `items`.
            schema["items"] = dict(self.items or {})
        if self.pattern is not None:
            schema["pattern"] = self.pattern.pattern
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema


class Configured(str):
    """Text the spec itself wrote (a declared enum member, a `with` constant): it may stand
    where a free caller value may not, such as a dotted host name in a base URI."""

    __slots__ = ()


def find(arguments: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """An argument by name, `-` and `_` being equivalent."""
    if name in arguments:
        return True, arguments[name]
    wanted = norm(name)
    for key, value in arguments.items():
        if norm(key) == wanted:
            return True, value
    return False, None


def validate(inputs: tuple[Input, ...], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Typed parameters: only the declared (or derived) inputs, checked and coerced.

    Anything else the caller sent is dropped here, so it can never reach a template (the
    trust boundary, SECURITY.md). Null arguments are "not provided" (an optional MCP argument
    sent as null).
    """
    params: dict[str, Any] = {}
    for spec in inputs:
        if spec.const is not None:
            params[spec.name] = spec.const
            continue
        present, value = find(arguments, spec.name)
        if not present or value is None or (value == "" and spec.location == "path"):
            if spec.required:
                where = "" if spec.location == "argument" else f"{spec.location} "
                raise InputError(spec.name, f"required {where}parameter is missing")
            continue
        typed = coerce(spec, value)
        if spec.pattern is not None and isinstance(typed, str):
            _match(spec.name, spec.pattern, typed)
        if spec.enum:
            if typed not in spec.enum:
                raise InputError(spec.name, f"must be one of {list(spec.enum)}")
            if isinstance(typed, str):
                typed = Configured(typed)
        params[spec.name] = typed
    return params


def coerce(spec: Input, value: Any) -> Any:
    """Accept a value of the declared type, or text that reads as one (query, path, header)."""
    kind = spec.type
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return str(value) if isinstance(value, Decimal) else json.dumps(value)
    elif kind in ("number", "integer"):
        number = _number(value)
        if number is not None and (kind == "number" or isinstance(number, int)):
            return number
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind in ("object", "array"):
        wanted = dict if kind == "object" else list
        if isinstance(value, str):
            value = safejson.text_or_json(value)  # never NaN or an overflowing number
        if isinstance(value, wanted):
            return value
    else:
        return value
    raise InputError(spec.name, f"must be {_article(kind)} {kind} (got {_describe(value)})")


def _number(value: Any) -> int | float | Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value  # a JSON number no double holds exactly (safejson): kept as written
    if isinstance(value, int | float):
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(value, str) and _JSON_NUMBER.fullmatch(value):
        number = number_from_text(value)
        return number if number is not None and math.isfinite(number) else None
    return None


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, bool):
        return "a boolean"
    return type(value).__name__ if isinstance(value, dict | list) else repr(value)


def _match(name: str, pattern: regex.Pattern[str], value: str) -> None:
    try:
        found = pattern.search(value, timeout=PATTERN_SECONDS)
    except TimeoutError:
        reason = f"could not be checked against pattern {pattern.pattern!r} in time"
        raise InputError(name, reason) from None
    if found is None:
        raise InputError(name, f"does not match pattern {pattern.pattern!r}")


def declared_input(param: InputParameter, required_by_default: bool) -> Input:
    """MCP tool parameters are required unless `required: false` (the reference engine's
    tools/list); REST parameters only when `required: true`, path variables always."""
    value = param.value
    const: Any = None
    body_path: JsonPath | None = None
    if isinstance(value, str) and value.startswith("$"):
        body_path = compile_jsonpath(value)
    elif value is not None:
        const = value
    pattern = None
    if param.pattern:
        # `regex` (imported only by specs that have patterns): `re` has no time bound, and
        # it lacks `\p{…}`, which ECMA-262 patterns (JSON Schema's) use.
        import regex

        try:
            pattern = regex.compile(param.pattern)
        except regex.error:
            pattern = None
    return Input(
        name=param.name,
        location=param.in_ or "argument",
        type=param.type or "string",
        description=param.description,
        required=const is None
        and (
            param.required is True
            or (param.required is None and (required_by_default or param.in_ == "path"))
        ),
        pattern=pattern,
        const=const,
        body_path=body_path,
        enum=tuple(param.enum) if param.enum else None,
        items=param.items,
        schema=param.schema_,
    )
