"""`load(path)`: file → located YAML → imports → dialect → model → load-time checks."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from naftiko.errors import Location, Problem, SpecError
from naftiko.model import Capability
from naftiko.model.base import Model
from naftiko.spec import checks, dialect
from naftiko.spec.files import resolve_location
from naftiko.spec.source import Document, PathKey, no_cycle_collection, parse, read_text
from naftiko.version import SPEC_VERSION as SPEC_VERSION  # re-exported (tools/ import it here)

COMPATIBLE_VERSIONS = frozenset({"1.0.0-alpha1"})


@dataclass
class LoadContext:
    """Everything one load collects: warnings, and which file each subtree came from."""

    root: Document
    spec_dir: Path
    warnings: list[Problem] = field(default_factory=list)
    sources: dict[PathKey, tuple[Document, PathKey]] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        for size in range(len(path), 0, -1):
            origin = self.sources.get(path[:size])
            if origin is not None:
                doc, base = origin
                loc = doc.locate((*base, *path[size:]), key=key)
                return Location(loc.file, loc.line, loc.column, self.root.locate(path).path)
        return self.root.locate(path, key=key)

    def warn(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.warnings.append(Problem(self.locate(path, key=key), message))

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> Problem:
        return Problem(self.locate(path, key=key), message)


def load(path: str | Path) -> Capability:
    """Load and check a spec; raises SpecError with located problems, never anything else."""
    with no_cycle_collection():
        return _load(Path(path), str(path))


def _load(file: Path, shown: str) -> Capability:
    doc = parse(read_text(file, shown), shown)
    ctx = LoadContext(doc, file.resolve().parent)
    data = doc.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SpecError([ctx.problem((), f"a spec must be a YAML mapping, this file is {kind}")])
    version = _check_version(data, ctx)
    try:
        capability = _build(data, ctx)
    except SpecError as exc:
        if version == SPEC_VERSION:
            raise
        first = exc.problems[0]
        note = f"{first.message} (this file declares naftiko {version}, read as {SPEC_VERSION})"
        raise SpecError([Problem(first.location, note), *exc.problems[1:]]) from None
    capability.attach(file, ctx.warnings, ctx.locate)
    return capability


def _build(data: dict[str, Any], ctx: LoadContext) -> Capability:
    for dup in ctx.root.duplicates:
        ctx.warn(dup, "duplicate key: the last value wins", key=True)
    _resolve_imports(data, ctx)
    dialect.normalise(data, ctx)
    try:
        capability = Capability.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_validation_problems(exc, data, ctx)) from None
    _warn_unknown_keys(capability, (), ctx)
    errors = checks.check(capability, ctx)
    if errors:
        raise SpecError(errors)
    return capability


def _check_version(data: dict[str, Any], ctx: LoadContext) -> str:
    if "naftiko" not in data:
        raise SpecError([ctx.problem((), f"missing `naftiko: {SPEC_VERSION}` version key")])
    raw = data["naftiko"]
    if isinstance(raw, dict | list):
        msg = (
            "`naftiko` must be a version string such as 1.0.0-alpha2; this file uses the "
            "legacy object form, which this runtime does not read"
        )
        raise SpecError([ctx.problem(("naftiko",), msg)])
    version = str(raw)
    data["naftiko"] = version
    if version == SPEC_VERSION:
        return version
    if version in COMPATIBLE_VERSIONS:
        ctx.warn(("naftiko",), f"declares naftiko {version}; read as {SPEC_VERSION}")
        return version
    msg = (
        f"unsupported naftiko version {version!r}: this runtime reads {SPEC_VERSION} "
        f"(and compatible {', '.join(sorted(COMPATIBLE_VERSIONS))} files)"
    )
    raise SpecError([ctx.problem(("naftiko",), msg)])


def _resolve_imports(data: dict[str, Any], ctx: LoadContext) -> None:
    body = data.get("capability")
    entries = body.get("consumes") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return
    cache: dict[Path, Document] = {}
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "location" in entry:
            entries[i] = _import_one(entry, ("capability", "consumes", i), ctx, cache)


def _import_one(
    entry: dict[str, Any], at: PathKey, ctx: LoadContext, cache: dict[Path, Document]
) -> Any:
    location, wanted = entry.get("location"), entry.get("import")
    if not isinstance(location, str) or not location.strip():
        raise SpecError([ctx.problem((*at, "location"), "import location must be a path")])
    if not isinstance(wanted, str) or not wanted:
        raise SpecError([ctx.problem(at, "an import needs `import: <consumes namespace>`")])
    target = resolve_location(location, ctx.spec_dir)
    if target not in cache:
        try:
            cache[target] = parse(read_text(target, str(target)), str(target))
        except SpecError as exc:
            reason = exc.problems[0]
            msg = f"cannot import {location!r}: {reason.location}: {reason.message}"
            raise SpecError([ctx.problem((*at, "location"), msg)]) from None
    doc = cache[target]
    shared, base = _shared_consumes(doc)
    if shared is None:
        msg = f"cannot import {location!r}: {target.name} has no root `consumes` list"
        raise SpecError([ctx.problem((*at, "location"), msg)])
    names = [e.get("namespace") for e in shared if isinstance(e, dict)]
    if wanted not in names:
        msg = f"{target.name} has no consumes namespace {wanted!r} (it declares: {names})"
        raise SpecError([ctx.problem((*at, "import"), msg)])
    j = names.index(wanted)
    imported = copy.deepcopy(shared[j])
    ctx.sources[at] = (doc, (*base, j))
    alias = entry.get("as")
    if isinstance(alias, str) and alias:
        imported["namespace"] = alias
    return imported


def _shared_consumes(doc: Document) -> tuple[list[Any] | None, PathKey]:
    """Root `consumes` (alpha2 shared files), else `capability.consumes` (alpha1 files)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if isinstance(data.get("consumes"), list):
        return data["consumes"], ("consumes",)
    body = data.get("capability")
    if isinstance(body, dict) and isinstance(body.get("consumes"), list):
        return body["consumes"], ("capability", "consumes")
    return None, ()


def _validation_problems(exc: ValidationError, data: Any, ctx: LoadContext) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        problems.append(ctx.problem(path, _message(err, path, data)))
    return problems


def _data_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Drop union tags from pydantic's `loc` by following it through the actual data."""
    path: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str):
            if part in current:
                path.append(part)
                current = current[part]
            elif i == len(loc) - 1:
                # A missing field: locate its parent mapping, but name the field in the path.
                path.append(part)
            # Otherwise `part` is a union tag (e.g. `rest`), not a key: skip it.
    return tuple(path)


def _message(err: Any, path: PathKey, data: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return f"missing required field {str(path[-1])!r}" if path else "missing field"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "missing `type` (it selects which kind of object this is)"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{err['msg'].rstrip('.')} (got {shown[:60]})"


def _warn_unknown_keys(model: Any, path: PathKey, ctx: LoadContext) -> None:
    if isinstance(model, Model):
        for key in model.__pydantic_extra__ or ():
            ctx.warn((*path, key), f"unknown key {key!r} ignored", key=True)
        aliases = _aliases(type(model))
        for name, value in model.__dict__.items():
            if value is not None and not isinstance(value, str | int | float):
                _warn_unknown_keys(value, (*path, aliases.get(name, name)), ctx)
    elif isinstance(model, list):
        for i, item in enumerate(model):
            _warn_unknown_keys(item, (*path, i), ctx)
    elif isinstance(model, dict):
        for key, item in model.items():
            _warn_unknown_keys(item, (*path, key), ctx)


@cache
def _aliases(cls: type[Model]) -> dict[str, str]:
    return {name: info.alias for name, info in cls.model_fields.items() if info.alias}
