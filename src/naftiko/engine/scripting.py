"""Script steps (SEMANTICS §7.4): JavaScript in an embedded QuickJS sandbox; Python in a
seccomp-confined child process (`pysandbox.py`).

QuickJS was chosen by measurement (bench/scripting.py, README): a fresh context per call costs
~0.2 ms, a 100-row filter ~1 ms, and it has the two limits we need built in — a CPU-time
interrupt and a heap limit. The context has no `require`, `process`, `fetch`, `std` or `os`:
a script can compute, and nothing else. Each call gets a new context, so no state leaks from
one call (or one caller) to the next. Files are read at startup; a missing file, a refused
language or disabled scripting stops startup at the step's line.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from naftiko.engine.pysandbox import available, run_python
from naftiko.errors import InputError, Location, SpecError
from naftiko.model import ExposesControl, ScriptStep
from naftiko.model.capability import Capability
from naftiko.spec.files import read_text

DEFAULT_TIMEOUT_MS = 3000
DEFAULT_MEMORY = 32 * 1024 * 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
# `groovy` has no sandbox here as strong as these two, so it is refused at startup.
SANDBOXED = frozenset({"javascript", "python"})


@dataclass(frozen=True)
class ScriptSettings:
    """`management.scripting` of the control adapter, then `NAFTIKO_SCRIPTING`."""

    enabled: bool = True
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    memory_bytes: int = DEFAULT_MEMORY
    default_location: str | None = None
    default_language: str | None = None
    allowed_languages: tuple[str, ...] | None = None


def settings_for(capability: Capability, environ: Mapping[str, str]) -> ScriptSettings:
    """`NAFTIKO_SCRIPTING=false` disables scripts unless the spec enables them explicitly (the
    explicit setting wins, as in the reference engine); `NAFTIKO_SCRIPTING=timeout=500,
    memory=16777216,location=file:///srv/scripts` sets the limits and default location."""
    values: dict[str, Any] = {}
    env = environ.get("NAFTIKO_SCRIPTING", "").strip()
    if env.lower() in ("false", "0", "off", "no"):
        values["enabled"] = False
    elif env and env.lower() not in ("true", "1", "on", "yes"):
        values.update(_env_settings(env))
    for adapter in capability.body.exposes:
        if isinstance(adapter, ExposesControl) and adapter.management.scripting is not None:
            managed = adapter.management.scripting
            if managed.enabled is not None:
                values["enabled"] = managed.enabled
            if managed.timeout is not None and "timeout_ms" not in values:
                values["timeout_ms"] = managed.timeout
            if managed.defaultLocation and "default_location" not in values:
                values["default_location"] = managed.defaultLocation
            if managed.defaultLanguage:
                values["default_language"] = managed.defaultLanguage
            if managed.allowedLanguages is not None:
                values["allowed_languages"] = tuple(managed.allowedLanguages)
    return ScriptSettings(**values)


def _env_settings(text: str) -> dict[str, Any]:
    names = {"timeout": "timeout_ms", "memory": "memory_bytes", "location": "default_location"}
    values: dict[str, Any] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        field = names.get(key.strip())
        if field is None or not value.strip():
            raise SpecError.single(
                Location("NAFTIKO_SCRIPTING"),
                f"unknown setting {item.strip()!r} (use false, or timeout=MS,memory=BYTES,"
                "location=file:///DIR)",
            )
        values[field] = value.strip() if field == "default_location" else _positive(key, value)
    return values


def _positive(key: str, value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise SpecError.single(Location("NAFTIKO_SCRIPTING"), f"{key} must be a positive integer")
    return int(value)


@dataclass(frozen=True)
class Script:
    """A compiled-at-startup script step: its sources (dependencies first) and its limits."""

    name: str
    source: str
    timeout_ms: int
    memory_bytes: int
    language: str = "javascript"

    async def run(self, context: Mapping[str, Any]) -> tuple[bool, Any]:
        """(assigned, value): whether the script set `result`, and its JSON value."""
        try:
            payload = json.dumps(context, default=str, allow_nan=False)
        except ValueError:
            raise InputError(self.name, "script context holds a number JSON cannot carry") from None
        if self.language == "python":
            assigned, value = await run_python(
                self.name, self.source, payload, self.timeout_ms, self.memory_bytes
            )
            return assigned, _finite(value)
        # QuickJS releases the GIL while it runs: the event loop keeps serving meanwhile.
        return await asyncio.to_thread(self._run, payload)

    def _run(self, payload: str) -> tuple[bool, Any]:
        import quickjs  # loaded by `compile_script` at start; a dictionary lookup here

        js = quickjs.Context()
        js.set_time_limit(self.timeout_ms / 1000)
        js.set_memory_limit(self.memory_bytes)
        try:
            js.set("__context", payload)
            js.eval("var context = JSON.parse(__context); var result; __context = undefined;")
            js.eval(self.source)
            text = js.eval(
                "result === undefined ? undefined : JSON.stringify(result === null ? null : result)"
            )
        except quickjs.JSException as exc:
            raise InputError(self.name, f"script failed: {_reason(exc)}") from None
        if text is None:
            return False, None
        value = json.loads(text) if isinstance(text, str) else text
        return True, _finite(value)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "interrupted" in text:
        return "time limit exceeded"
    if "out of memory" in text:
        return "memory limit exceeded"
    return text[:300]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compile_script(
    step: ScriptStep, settings: ScriptSettings, base: Path, where: Location
) -> Script:
    """Resolve language, location, file and dependencies now; refuse what cannot run."""
    if not settings.enabled:
        raise SpecError.single(where, "script steps are disabled (management.scripting.enabled)")
    language = (step.language or settings.default_language or "").lower()
    if not language:
        raise SpecError.single(where, "script step has no language (and no defaultLanguage)")
    if settings.allowed_languages is not None and language not in settings.allowed_languages:
        raise SpecError.single(where, f"script language {language!r} is not allowed")
    if language not in SANDBOXED:
        raise SpecError.single(
            where,
            f"script language {language!r} is not supported: this runtime runs only "
            "javascript and python, each in a sandbox",
        )
    if language == "python" and (missing := available()) is not None:
        raise SpecError.single(where, f"python scripts cannot be sandboxed here: {missing}")
    location = step.location or settings.default_location
    if not location or not step.file:
        raise SpecError.single(where, "script step needs a `file` and a `location`")
    folder = _folder(location, base, where)
    sources = [_read(folder, name, where) for name in (*(step.dependencies or []), step.file)]
    if language == "javascript":
        # QuickJS is loaded only for a spec with JavaScript steps, at start, never on a call.
        importlib.import_module("quickjs")
    joiner = "\n;\n" if language == "javascript" else "\n"
    return Script(
        step.name, joiner.join(sources), settings.timeout_ms, settings.memory_bytes, language
    )


def _folder(location: str, base: Path, where: Location) -> Path:
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise SpecError.single(where, f"script location {location!r} must be a file:/// URI")
    path = Path(unquote(parsed.path if parsed.scheme else location))
    folder = path if path.is_absolute() else base / path
    if not folder.is_dir():
        raise SpecError.single(where, f"script location {location!r} is not a directory")
    return folder.resolve()


def _read(folder: Path, name: str, where: Location) -> str:
    """A file inside `folder`: safe segments only, and no symlink that leads out of it."""
    parts = name.split("/")
    if not parts or not all(_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        raise SpecError.single(where, f"script file {name!r} is not a safe relative path")
    path = folder.joinpath(*parts).resolve()
    if not path.is_relative_to(folder):
        raise SpecError.single(where, f"script file {name!r} leads outside its location")
    try:
        return read_text(path)
    except UnicodeDecodeError:
        raise SpecError.single(where, f"script file {name!r} is not UTF-8 text") from None
    except OSError as exc:
        raise SpecError.single(where, f"cannot read script file {name!r}: {exc.strerror}") from None
