"""JSON body templates (`body: '{"ids": {{ids}}, "name": "{{name}}"}'`) rendered so the upstream
always receives valid JSON.

The template is read once as JSON with a placeholder for each `{{x}}`: a bare `{{x}}` takes
x's JSON value (a list stays a list; text that is JSON is that JSON; other text becomes a
string), `"{{x}}"` takes x as a string, and a value the caller left out drops its member (or
is `null` inside an array) — never `{"ids": , …}`. A template that is not JSON even with its
placeholders filled is rendered as text, each missing bare value as `null`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from naftiko.expressions import Template, Var, to_text

_NONCE = os.urandom(6).hex()
_MISSING = object()


@dataclass(frozen=True)
class _Skeleton:
    tree: Any  # the template parsed as JSON, with a token where each variable stands
    tokens: dict[str, tuple[Var, bool]]  # token → (variable, bare: outside any JSON string)


def render_json(template: Template, lookup: Callable[[Var], Any]) -> str:
    skeleton = _skeleton(template)
    if skeleton is None:
        return _as_text(template, lookup)
    value = _fill(skeleton.tree, skeleton, lookup)
    return json.dumps(None if value is _MISSING else value, ensure_ascii=False)


@lru_cache(maxsize=512)
def _skeleton(template: Template) -> _Skeleton | None:
    out: list[str] = []
    tokens: dict[str, tuple[Var, bool]] = {}
    in_string = False
    for i, part in enumerate(template.parts):
        if isinstance(part, str):
            out.append(part)
            in_string = _string_state(part, in_string)
            continue
        token = f"@@naftiko-{_NONCE}-{i}@@"
        tokens[token] = (part, not in_string)
        out.append(token if in_string else f'"{token}"')
    try:
        tree = json.loads("".join(out))
    except ValueError:
        return None
    return _Skeleton(tree, tokens)


def _string_state(text: str, in_string: bool) -> bool:
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return in_string


def _fill(node: Any, skeleton: _Skeleton, lookup: Callable[[Var], Any]) -> Any:
    if isinstance(node, dict):
        filled = {}
        for key, child in node.items():
            value = _fill(child, skeleton, lookup)
            if value is not _MISSING:
                filled[_text(key, skeleton, lookup)] = value
        return filled
    if isinstance(node, list):
        values = [_fill(child, skeleton, lookup) for child in node]
        return [None if v is _MISSING else v for v in values]
    if not isinstance(node, str) or "@@naftiko-" not in node:
        return node
    found = skeleton.tokens.get(node)
    if found is None:
        return _text(node, skeleton, lookup)
    var, bare = found
    value = lookup(var)
    if value is None:
        return _MISSING
    if not bare:
        return to_text(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(text: str, skeleton: _Skeleton, lookup: Callable[[Var], Any]) -> str:
    for token, (var, _) in skeleton.tokens.items():
        if token in text:
            value = lookup(var)
            text = text.replace(token, "" if value is None else to_text(value))
    return text


def _as_text(template: Template, lookup: Callable[[Var], Any]) -> str:
    """Not JSON: raw insertion as the reference engine does, but a string between quotes is
    JSON-escaped (a `"` in a caller's value cannot break out) and a missing bare value is
    `null`."""
    out: list[str] = []
    parts = template.parts
    for i, part in enumerate(parts):
        if isinstance(part, str):
            out.append(part)
            continue
        value = lookup(part)
        before = parts[i - 1] if i > 0 else ""
        after = parts[i + 1] if i + 1 < len(parts) else ""
        quoted = isinstance(before, str) and before.endswith('"')
        quoted = quoted and isinstance(after, str) and after.startswith('"')
        if value is None:
            out.append("" if quoted else "null")
        elif quoted and isinstance(value, str):
            out.append(json.dumps(value, ensure_ascii=False)[1:-1])
        else:
            out.append(to_text(value))
    return "".join(out)
