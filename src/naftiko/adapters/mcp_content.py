"""MCP resources and prompts (SEMANTICS §6.7-6.8), as the JSON objects the wire carries.

Static resources are files under a `location` folder; dynamic ones run through
`Engine.invoke` with the URI template's variables as arguments. Prompts render `{{name}}`
placeholders from the caller's arguments, without re-scanning what was substituted.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from naftiko.adapters.files import (
    contained,
    files_under,
    is_regular_file,
    media_type,
    unsafe_segment,
)
from naftiko.adapters.mcp_envelope import INTERNAL_ERROR, INVALID_PARAMS, RpcError
from naftiko.adapters.mcp_results import failure_text
from naftiko.engine.engine import Engine
from naftiko.engine.plan import Action
from naftiko.errors import InputError, NaftikoError
from naftiko.expressions import parse_template, rewrite
from naftiko.model.exposes import McpPrompt, McpResource
from naftiko.spec.files import resolve_location

# MCP 2025-11-25, server/resources, error handling: "Resource not found: -32002".
RESOURCE_NOT_FOUND = -32002


@dataclass(frozen=True)
class _Dynamic:
    spec: McpResource
    action: Action
    pattern: re.Pattern[str] | None  # None: a concrete URI, listed by resources/list
    names: tuple[str, ...] = ()  # the variable of each group of `pattern`, in order


@dataclass(frozen=True)
class _Static:
    spec: McpResource
    root: Path  # a folder (one entry per file) or a single file


class Resources:
    """The adapter's resources, resolved once: folders found, URI templates compiled."""

    def __init__(
        self,
        resources: tuple[tuple[McpResource, Action | None], ...],
        spec_dir: Path,
        engine: Engine,
    ) -> None:
        self.engine = engine
        self._static: list[_Static] = []
        self._dynamic: list[_Dynamic] = []
        for spec, action in resources:
            if action is not None:
                self._dynamic.append(_Dynamic(spec, action, *_uri_pattern(spec.uri)))
            elif spec.location:
                self._static.append(_Static(spec, resolve_location(spec.location, spec_dir)))

    def __bool__(self) -> bool:
        return bool(self._static or self._dynamic)

    async def list(self) -> dict[str, Any]:
        listed = [
            _obj(uri=d.spec.uri, **_described(d.spec)) for d in self._dynamic if d.pattern is None
        ]
        for static in self._static:
            files = await asyncio.to_thread(_files, static.root)
            spec = static.spec
            for rel, path in files:
                listed.append(
                    _obj(
                        uri=f"{spec.uri.rstrip('/')}/{rel}" if rel else spec.uri,
                        name=rel or spec.name,
                        title=spec.label or spec.name,
                        description=spec.description,
                        mimeType=spec.mimeType or media_type(path.name),
                    )
                )
        return {"resources": listed}

    def templates(self) -> dict[str, Any]:
        return {
            "resourceTemplates": [
                _obj(uriTemplate=d.spec.uri, **_described(d.spec))
                for d in self._dynamic
                if d.pattern is not None
            ]
        }

    def has_templates(self) -> bool:
        return any(d.pattern is not None for d in self._dynamic)

    def complete(self, uri: str, variable: str, typed: str) -> tuple[str, ...]:
        """The values of the spec's enum for `variable` of template `uri` that begin with
        what was `typed` (none when the spec declares no enum for it)."""
        for dynamic in self._dynamic:
            if dynamic.pattern is not None and dynamic.spec.uri == uri:
                if variable not in dynamic.names:
                    raise RpcError(INVALID_PARAMS, f"Unknown variable {variable!r} of {uri}")
                operation = dynamic.action.operation
                # The values the consumed operation's parameter of that name declares.
                params = operation.params if operation is not None else ()
                enum = next((p.enum for p in params if p.name == variable and p.enum), ())
                return tuple(str(v) for v in enum if str(v).startswith(typed))
        raise RpcError(INVALID_PARAMS, f"Unknown resource template: {uri}")

    async def read(self, uri: str) -> dict[str, Any]:
        for dynamic in self._dynamic:
            if dynamic.pattern is None:
                if uri == dynamic.spec.uri:
                    return await self._run(dynamic, uri, {})
            elif (match := dynamic.pattern.fullmatch(uri)) is not None:
                arguments = {
                    name: unquote(value)
                    for name, value in zip(dynamic.names, match.groups(), strict=True)
                }
                return await self._run(dynamic, uri, arguments)
        for static in self._static:
            path = _file_for(static, uri)
            if path is not None:
                return await _read_file(path, uri, static.spec.mimeType)
        raise RpcError(RESOURCE_NOT_FOUND, f"Unknown resource: {uri}", {"uri": uri})

    async def _run(self, dynamic: _Dynamic, uri: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self.engine.invoke(dynamic.action, arguments)
        except InputError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        except NaftikoError as exc:
            raise RpcError(INTERNAL_ERROR, str(exc)) from None
        if result.failed:
            # Behind a template, the upstream's 404 means this URI names nothing.
            code = RESOURCE_NOT_FOUND if result.status in (404, 410) else INTERNAL_ERROR
            raise RpcError(
                code, failure_text(result), {"uri": uri} if code == RESOURCE_NOT_FOUND else None
            )
        mime = dynamic.spec.mimeType or "application/json"
        return {"contents": [{"uri": uri, "mimeType": mime, "text": result.text()}]}


def _uri_pattern(uri: str) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """`data://users/{user-id}/profile` → a regex with one `[^/]+` group per variable, read by
    the same template parser as every other template (so what is a variable at load time is
    one at run time too)."""
    template = parse_template(uri, single_braces=True)
    if template.is_constant:
        return None, ()
    pattern = "".join(
        re.escape(part) if isinstance(part, str) else "([^/]+)" for part in template.parts
    )
    return re.compile(pattern), tuple(v.name for v in template.variables)


def _file_for(static: _Static, uri: str) -> Path | None:
    """The file a static resource URI names, or None; every refusal is a plain miss so a
    caller learns nothing about what lies outside the folder."""
    base = static.spec.uri.rstrip("/")
    if uri == static.spec.uri or uri == base:
        return static.root if static.root.is_file() else None
    if not uri.startswith(base + "/") or not static.root.is_dir():
        return None
    segments = uri[len(base) + 1 :].split("/")
    if unsafe_segment(segments) is not None:
        return None
    path = contained(static.root, segments)
    return path if path is not None and is_regular_file(path) else None


def _files(root: Path) -> list[tuple[str, Path]]:
    """The files of a folder resource, or the file itself with an empty relative path."""
    return [("", root)] if root.is_file() else files_under(root)


async def _read_file(path: Path, uri: str, mime: str | None) -> dict[str, Any]:
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        raise RpcError(INTERNAL_ERROR, f"resource {uri} cannot be read") from None
    media = mime or media_type(path.name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        blob = base64.b64encode(data).decode("ascii")
        return {"contents": [{"uri": uri, "mimeType": media, "blob": blob}]}
    return {"contents": [{"uri": uri, "mimeType": media, "text": text}]}


class Prompts:
    """The adapter's prompts: listed in declaration order, rendered on request."""

    def __init__(self, prompts: tuple[McpPrompt, ...], spec_dir: Path) -> None:
        self._prompts = {p.name: p for p in prompts}
        self._files = {
            p.name: resolve_location(p.location, spec_dir)
            for p in prompts
            if p.template is None and p.location
        }
        self._listing = {
            "prompts": [
                _obj(
                    name=p.name,
                    title=p.label,
                    description=p.description,
                    arguments=[
                        _obj(
                            name=a.name,
                            title=a.label,
                            description=a.description,
                            required=a.required is not False,
                        )
                        for a in p.arguments
                    ],
                )
                for p in prompts
            ]
        }

    def __bool__(self) -> bool:
        return bool(self._prompts)

    def list(self) -> dict[str, Any]:
        return self._listing

    def complete(self, name: str, argument: str) -> tuple[str, ...]:
        """A prompt argument's completions: none, a spec gives arguments no values to offer;
        an unknown prompt or argument is -32602."""
        prompt = self._prompts.get(name)
        if prompt is None:
            raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
        if all(a.name != argument for a in prompt.arguments):
            raise RpcError(INVALID_PARAMS, f"Unknown argument {argument!r} of prompt {name!r}")
        return ()

    async def get(self, name: str, arguments: dict[str, str]) -> dict[str, Any]:
        prompt = self._prompts.get(name)
        if prompt is None:
            raise RpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
        for declared in prompt.arguments:
            if declared.required is not False and declared.name not in arguments:
                message = f"Missing required argument {declared.name!r} of prompt {name!r}"
                raise RpcError(INVALID_PARAMS, message)
        # An optional argument left unset renders as nothing, never as its placeholder.
        values = {a.name: "" for a in prompt.arguments} | arguments
        if prompt.template is not None:
            messages = [
                {"role": m.role, "content": {"type": "text", "text": render(m.content, values)}}
                for m in prompt.template
            ]
        elif name in self._files:
            try:
                text = await asyncio.to_thread(self._files[name].read_text, "utf-8")
            except (OSError, UnicodeDecodeError):
                raise RpcError(INTERNAL_ERROR, f"prompt {name} cannot be read") from None
            content = {"type": "text", "text": render(text, values)}
            messages = [{"role": "user", "content": content}]
        else:
            messages = []
        return _obj(description=prompt.description, messages=messages)


def _obj(**members: Any) -> dict[str, Any]:
    """A JSON object of the members that have a value (the protocol's optional fields are
    absent, never null)."""
    return {key: value for key, value in members.items() if value is not None}


def render(template: str, arguments: dict[str, str]) -> str:
    """`{{name}}` → the argument's value; unknown placeholders stay as written, and a
    substituted value is never scanned again (an argument cannot inject another one)."""
    return rewrite(parse_template(template), lambda var: arguments.get(var.name))


def _described(spec: McpResource) -> dict[str, Any]:
    """What resources/list and resources/templates/list say of a resource the engine answers."""
    return {
        "name": spec.name,
        "title": spec.label,
        "description": spec.description,
        "mimeType": spec.mimeType or "application/json",
    }
