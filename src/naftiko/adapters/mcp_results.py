"""MCP tools: the plan's actions as SDK `Tool`s, and engine outcomes as tool results."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import mcp_types as types

from naftiko.engine.plan import Action
from naftiko.engine.result import Result

_MAX_DETAIL = 500


def tool(name: str, action: Action, schema: dict[str, Any]) -> types.Tool:
    return types.Tool(
        name=name,
        title=action.label,
        description=action.description,
        input_schema=schema,
        annotations=_annotations(action),
    )


def _annotations(action: Action) -> types.ToolAnnotations | None:
    """Each hint only when the spec sets it: an absent hint keeps the protocol's default."""
    hints = action.hints
    if hints is None and action.label is None:
        return None
    return types.ToolAnnotations(
        title=action.label,
        read_only_hint=hints.readOnly if hints else None,
        destructive_hint=hints.destructive if hints else None,
        idempotent_hint=hints.idempotent if hints else None,
        open_world_hint=hints.openWorld if hints else None,
    )


def success(result: Result) -> types.CallToolResult:
    """The output as JSON text, and as `structuredContent` when it is a JSON object (the
    engine has already masked secrets in it)."""
    text = result.text()
    structured: Any = None
    if result.raw is None:
        structured = result.body if isinstance(result.body, dict) else None
    elif text.lstrip().startswith("{"):
        # Only an object can be structured content: parse nothing else.
        with contextlib.suppress(ValueError):
            structured = json.loads(text)
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=structured if isinstance(structured, dict) else None,
    )


def failure(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def failure_text(result: Result) -> str:
    """`upstream answered 404: batch missing not found`: the status, and the upstream's own
    message when its error body names one. The engine has already redacted the body."""
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
