"""The one JSON reader for what callers send, and the writer that gives numbers back as read.

RFC 8259 has no NaN or Infinity, and a number too large for a double is not one either:
such input is refused (never forwarded as invalid JSON). Nesting is bounded, so a hostile body
cannot exhaust the stack here or further down. A decimal that a double cannot hold exactly
(`12345678901234567890.123`) is kept as a `Decimal` and written back as the same number. A
string escaping half of a surrogate pair (`"\\ud800"`) is not Unicode text (it cannot be
encoded for a URL, a header or an upstream body) and is refused too.

`upstream` reads what an upstream sends under a JSON media type by the same rules, so a
value the gateway writes back (a mapped output, MCP structured content) is always JSON.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from decimal import Decimal
from typing import Any

from naftiko.errors import InputError

MAX_DEPTH = 128
# `\ud800`-`\udfff` escaped in JSON text: only then can a parsed string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(raw: bytes | str, field: str = "body") -> Any:
    """Parse caller JSON; `InputError(field)` for NaN/Infinity, overflowing numbers, nesting
    deeper than MAX_DEPTH; `ValueError` when it is not JSON at all."""
    try:
        value = json.loads(raw, parse_float=_number, parse_constant=_constant)
    except RecursionError:
        raise InputError(field, f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except _Refused as exc:
        raise InputError(field, str(exc)) from None
    # Counting brackets and searching for escapes is C speed; only a body that could be
    # deep, or hold a lone surrogate, is walked.
    text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if text.count(b"[") + text.count(b"{") > MAX_DEPTH or _SURROGATE_ESCAPE.search(text):
        check(value, field)
    return value


def upstream(raw: bytes) -> Any:
    """An upstream's JSON body. `ValueError` for what is not RFC 8259 JSON (NaN, Infinity,
    a number no double holds, invalid UTF-8) or is nested deeper than the parser's stack:
    never a RecursionError, never a value that would be written back as invalid JSON."""
    try:
        # What json.loads does with bytes, with one decoder made once (not one per call).
        value = _UPSTREAM.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    if _SURROGATE_ESCAPE.search(raw) and not _all_text(value):
        raise ValueError(_LONE_SURROGATE)
    return value


def _all_text(value: Any) -> bool:
    """Whether every string and key in `value` is Unicode text (no lone surrogate)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return False
        elif isinstance(item, dict):
            if not all(_is_text(key) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def text_or_json(text: str) -> Any:
    """Text a caller gave where JSON may stand (a query value for an object input, a string
    body holding JSON): its JSON value when it is strict JSON, else the text itself."""
    try:
        return loads(text)
    except (ValueError, InputError):
        return text


def check(value: Any, field: str) -> None:
    """The same rules for a value another parser produced (the MCP SDK's tool arguments)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(field, f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError(field, "a number must be finite (no NaN, Infinity or overflow)")
        if isinstance(item, str) and not _is_text(item):
            raise InputError(field, _LONE_SURROGATE)
        if isinstance(item, dict):
            for key in item:
                if not _is_text(key):
                    raise InputError(field, _LONE_SURROGATE)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps`, writing each `Decimal` from `loads` as the number it was read as."""
    numbers: list[str] = []
    marker = ""

    def placeholder(item: Any) -> Any:
        nonlocal marker
        if not isinstance(item, Decimal):
            raise TypeError(f"{type(item).__name__} is not JSON serializable")
        # A string no caller can predict stands in for the number, then is swapped back.
        marker = marker or secrets.token_hex(8)
        numbers.append(str(item))
        return f"{marker}:{len(numbers) - 1}"

    text = json.dumps(value, default=placeholder, **options)
    for i, number in enumerate(numbers):
        text = text.replace(f'"{marker}:{i}"', number, 1)
    return text


_LONE_SURROGATE = "a string holds half of a surrogate pair (\\ud800-\\udfff), not Unicode text"


def _is_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"{text[:40]} is too large for a JSON number")
    return number


def _number(text: str) -> float | Decimal:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"{text[:40]} is too large for a JSON number")
    exact = Decimal(text)
    # A double that holds the value exactly stays a float (the common, fast case).
    return number if Decimal(repr(number)) == exact else exact


_UPSTREAM = json.JSONDecoder(parse_float=_finite, parse_constant=_constant)
