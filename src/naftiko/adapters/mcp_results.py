"""MCP tools: the plan's actions as `tools/list` entries, and engine outcomes as tool results,
both as the plain JSON objects the wire carries."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import naftiko.safejson as safejson
from naftiko.engine.plan import Action
from naftiko.engine.result import Result

_MAX_DETAIL = 500


def tool(name: str, action: Action, schema: dict[str, Any]) -> dict[str, Any]:
    listed: dict[str, Any] = {"name": name}
    if action.label is not None:
        listed["title"] = action.label
    if action.description is not None:
        listed["description"] = action.description
    listed["inputSchema"] = schema
    annotations = _annotations(action)
    if annotations is not None:
        listed["annotations"] = annotations
    return listed


def _annotations(action: Action) -> dict[str, Any] | None:
    """Each hint only when the spec sets it: an absent hint keeps the protocol's default."""
    hints = action.hints
    if hints is None and action.label is None:
        return None
    pairs = (
        ("title", action.label),
        ("readOnlyHint", hints.readOnly if hints else None),
        ("destructiveHint", hints.destructive if hints else None),
        ("idempotentHint", hints.idempotent if hints else None),
        ("openWorldHint", hints.openWorld if hints else None),
    )
    return {key: value for key, value in pairs if value is not None}


def success(result: Result) -> dict[str, Any]:
    """The output as JSON text, and as `structuredContent` when it is a JSON object (the
    engine has already masked secrets in it)."""
    text = result.text()
    structured: Any = None
    if result.raw is None:
        structured = result.body if isinstance(result.body, dict) else None
    elif text.lstrip().startswith("{"):
        # Only an object can be structured content: parse nothing else. Strictly: an
        # upstream's NaN or a nesting past the parser's stack is left as text.
        with contextlib.suppress(ValueError):
            structured = safejson.upstream(result.raw)
    answer: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if isinstance(structured, dict):
        answer["structuredContent"] = structured
    answer["isError"] = False
    return answer


def failure(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def failure_text(result: Result) -> str:
    """`upstream answered 404: batch missing not found`: the status, and the upstream's own
    message when its error body names one. The engine has already redacted the body."""
    location = next((v for k, v in result.headers if k.lower() == "location"), None)
    if 300 <= result.status < 400 and location:
        return (
            f"upstream answered {result.status}: it redirects to {location[:_MAX_DETAIL]}, "
            "which the gateway does not follow (only redirects within the upstream are)"
        )
    message = _message(result.data())
    if message is None:
        detail = result.text().strip()
        message = detail[:_MAX_DETAIL] if detail and detail != "null" else None
    return f"upstream answered {result.status}" + (f": {message}" if message else "")


def _message(data: Any) -> str | None:
    """`error.message`, `error` (a string), `message` or `detail`, whichever comes first."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    for candidate in (error, data.get("message"), data.get("detail")):
        if isinstance(candidate, str) and candidate:
            return candidate[:_MAX_DETAIL]
        if candidate:
            return json.dumps(candidate, ensure_ascii=False)[:_MAX_DETAIL]
    return None
