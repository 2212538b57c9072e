"""Skill adapter: a read-only catalog of agent skills and their files (SEMANTICS §8.1).

It never executes a tool: derived tools point at the sibling REST/MCP adapter that runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from naftiko.adapters.auth_gate import Authority, Gate
from naftiko.adapters.common import OPERATION, problem
from naftiko.adapters.files import (
    SAFE_SEGMENT,
    contained,
    files_under,
    is_regular_file,
    media_type,
    unsafe_segment,
)
from naftiko.adapters.limits import problem_refusal
from naftiko.engine.exposed import guard
from naftiko.engine.plan import Plan
from naftiko.errors import InputError
from naftiko.model import ExposesMcp, ExposesRest, ExposesSkill
from naftiko.model.exposes import ExposedSkill
from naftiko.spec.files import resolve_location

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class _Skill:
    name: str
    root: Path | None  # the resolved `location` folder, if any
    detail: bytes  # `/skills/{name}` body, rendered once at startup


class SkillAdapter:
    """One `type: skill` adapter: its catalog and files, served behind `edge.Edge`."""

    kind = "skill"
    refuse = staticmethod(problem_refusal)

    def __init__(
        self,
        plan: Plan,
        index: int,
        adapter: ExposesSkill,
        authority: Authority | None = None,
    ) -> None:
        self.namespace = adapter.namespace
        at = ("capability", "exposes", index)
        self.gate = Gate(guard(plan, adapter.authentication, at), authority)
        modes = _sibling_modes(plan, index)
        spec_dir = plan.capability.path.parent
        self.skills: dict[str, _Skill] = {}
        for skill in adapter.skills:
            root = resolve_location(skill.location, spec_dir) if skill.location else None
            detail = json.dumps(_detail(skill, modes)).encode()
            self.skills[skill.name] = _Skill(skill.name, root, detail)
        self._catalog_body = json.dumps(
            {"count": len(adapter.skills), "skills": [_summary(s) for s in adapter.skills]}
        ).encode()
        # (pattern on the raw path, metrics template, handler); the first group is a skill name.
        self._routes: list[tuple[re.Pattern[str], str, Handler]] = [
            (re.compile(r"^/skills/?$"), "/skills", self._catalog),
            (re.compile(r"^/skills/([^/]+)$"), "/skills/{name}", self._detail),
            (re.compile(r"^/skills/([^/]+)/download$"), "/skills/{name}/download", self._zip),
            (re.compile(r"^/skills/([^/]+)/contents$"), "/skills/{name}/contents", self._list),
            (
                re.compile(r"^/skills/([^/]+)/contents/(.+)$"),
                "/skills/{name}/contents/{file}",
                self._file,
            ),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        yield

    def methods_at(self, path: str) -> list[str]:
        return ["GET"] if any(regex.match(path) for regex, _, _ in self._routes) else []

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Match on the raw path so that `%2F` stays inside one segment (and is refused there).
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        for regex, template, handler in self._routes:
            match = regex.match(raw_path)
            if match is not None:
                scope["state"][OPERATION] = template
                response = await handler(*match.groups())
                break
        else:  # the edge admits only paths of these routes
            response = problem(404, f"no resource at {scope['path']}")
        await response(scope, receive, send)

    async def _catalog(self) -> Response:
        return Response(self._catalog_body, media_type="application/json")

    async def _detail(self, name: str) -> Response:
        skill = self.skills.get(unquote(name))
        if skill is None:
            return _unknown(name)
        return Response(skill.detail, media_type="application/json")

    async def _zip(self, name: str) -> Response:
        return await self._in_folder(name, _zip_answer)

    async def _list(self, name: str) -> Response:
        return await self._in_folder(name, _list_answer)

    async def _file(self, name: str, raw_file: str) -> Response:
        return await self._in_folder(name, lambda skill, root: _file_answer(skill, root, raw_file))

    async def _in_folder(self, name: str, answer: Callable[[_Skill, Path], Response]) -> Response:
        """`answer` of the skill's folder (file system work, so off the event loop)."""
        found = self._folder(name)
        if isinstance(found, Response):
            return found
        return await asyncio.to_thread(answer, *found)

    def _folder(self, raw_name: str) -> tuple[_Skill, Path] | Response:
        """The skill and its folder, or the 404 that says which of the two is missing."""
        skill = self.skills.get(unquote(raw_name))
        if skill is None:
            return _unknown(raw_name)
        if skill.root is None:
            return problem(404, f"skill {skill.name!r} has no location")
        if not skill.root.is_dir():
            return problem(404, f"location folder of skill {skill.name!r} not found")
        return skill, skill.root


def _zip_answer(skill: _Skill, root: Path) -> Response:
    filename = skill.name if SAFE_SEGMENT.fullmatch(skill.name) else "skill"
    disposition = f'attachment; filename="{filename}.zip"'
    return Response(
        _zip_folder(root),
        media_type="application/zip",
        headers={"Content-Disposition": disposition},
    )


def _list_answer(skill: _Skill, root: Path) -> Response:
    body = json.dumps({"name": skill.name, "files": _listing(root)}).encode()
    return Response(body, media_type="application/json")


def _file_answer(skill: _Skill, root: Path, raw_file: str) -> Response:
    try:
        path = _inside(root, raw_file)
    except InputError as exc:
        return problem(400, exc.message)
    if not is_regular_file(path):
        return problem(404, f"file {unquote(raw_file)!r} not found in skill {skill.name!r}")
    return FileResponse(path, media_type=media_type(path.name))


def _sibling_modes(plan: Plan, index: int) -> dict[str, str]:
    """Namespace → `rest`/`mcp` for the adapters a derived tool may point at."""
    modes: dict[str, str] = {}
    for i, exposed in enumerate(plan.capability.body.exposes):
        if i != index and isinstance(exposed, ExposesRest | ExposesMcp):
            modes[exposed.namespace] = exposed.type
    return modes


def _summary(skill: ExposedSkill) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": skill.name, "description": skill.description}
    if skill.license is not None:
        entry["license"] = skill.license
    entry["tools"] = [tool.name for tool in skill.tools]
    return entry


def _detail(skill: ExposedSkill, modes: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": skill.name, "description": skill.description}
    optional = {
        "license": skill.license,
        "compatibility": skill.compatibility,
        "argument-hint": skill.argument_hint,
        "allowed-tools": skill.allowed_tools,
        "user-invocable": skill.user_invocable,
        "disable-model-invocation": skill.disable_model_invocation,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if skill.metadata:
        # Agent Skills metadata is a string → string map; YAML may have typed the values.
        body["metadata"] = {str(k): _text(v) for k, v in skill.metadata.items()}
    tools: list[dict[str, Any]] = []
    for tool in skill.tools:
        entry: dict[str, Any] = {"name": tool.name, "description": tool.description}
        if tool.from_ is not None:
            entry["type"] = "derived"
            entry["invocationRef"] = {
                "targetNamespace": tool.from_.sourceNamespace,
                "action": tool.from_.action,
                "mode": modes[tool.from_.sourceNamespace],
            }
        else:
            entry["type"] = "instruction"
            entry["instruction"] = tool.instruction
        tools.append(entry)
    body["tools"] = tools
    return body


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _unknown(raw_name: str) -> Response:
    return problem(404, f"skill {unquote(raw_name)!r} not found")


def _inside(root: Path, raw_file: str) -> Path:
    """The requested file, refused if any segment is unusual or it resolves outside `root`."""
    segments = [unquote(part) for part in raw_file.split("/")]
    bad = unsafe_segment(segments)
    if bad is not None:
        raise InputError("path", f"unsafe path segment {bad!r}")
    path = contained(root, segments)
    if path is None:
        raise InputError("path", "path leads outside the skill folder")
    return path


def _listing(root: Path) -> list[dict[str, Any]]:
    return [
        {"path": rel, "size": path.stat().st_size, "type": media_type(rel)}
        for rel, path in files_under(root)
    ]


def _zip_folder(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, path in files_under(root):
            archive.write(path, rel)
    return buffer.getvalue()
