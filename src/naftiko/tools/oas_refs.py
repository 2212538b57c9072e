"""OpenAPI files → plain data with `$ref`s followed across files, and located warnings.

A node is always carried with where it was written (`Where`: the parsed file and the node's
path in it), so every warning about an OpenAPI construct names FILE:LINE:COL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from naftiko.errors import Location, Problem, SpecError
from naftiko.spec.source import Document, PathKey, parse, read_text


@dataclass(frozen=True)
class Where:
    """A node's file and path; `at(...)` descends."""

    doc: Document
    path: PathKey = ()

    def at(self, *parts: str | int) -> Where:
        return Where(self.doc, (*self.path, *parts))

    def location(self) -> Location:
        return self.doc.locate(self.path)


@dataclass
class Source:
    """The root document, the files it refers to (read once each) and the warnings so far."""

    root: Where
    files: dict[Path, Document] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    _warned: set[tuple[str, PathKey, str]] = field(default_factory=set)

    def warn(self, where: Where, message: str) -> None:
        key = (where.doc.file, where.path, message)
        if key not in self._warned:  # a shared component is visited once per use
            self._warned.add(key)
            self.warnings.append(Problem(where.location(), message))

    def deref(self, node: Any, where: Where) -> tuple[Any, Where]:
        """Follow `$ref` chains (local, or to another file) to the node they name."""
        seen: set[tuple[str, PathKey]] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            target = self._target(ref, where)
            if target is None or (target.doc.file, target.path) in seen:
                if target is not None:
                    self.warn(where, f"$ref {ref!r} refers to itself")
                return {}, where
            seen.add((target.doc.file, target.path))
            found = _lookup(target.doc.data, target.path)
            if found is _MISSING:
                self.warn(where.at("$ref"), f"$ref {ref!r} points at nothing")
                return {}, where
            node, where = found, target
        return node, where

    def _target(self, ref: str, where: Where) -> Where | None:
        file_part, _, pointer = ref.partition("#")
        doc = where.doc
        if file_part:
            if "://" in file_part:
                self.warn(where.at("$ref"), f"remote $ref {ref!r} is not fetched; left untyped")
                return None
            folder = Path(where.doc.file).parent
            other = self._file(Path(os.path.normpath(folder / unquote(file_part))), where)
            if other is None:
                return None
            doc = other
        parts: list[str | int] = []
        for raw in pointer.split("/")[1:] if pointer else []:
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            parts.append(part)
        return Where(doc, _typed(doc.data, parts))

    def _file(self, path: Path, where: Where) -> Document | None:
        resolved = path.resolve()
        if resolved not in self.files:
            try:
                self.files[resolved] = parse(read_text(resolved, str(path)), str(path))
            except SpecError as exc:
                self.warn(where.at("$ref"), f"cannot read {path}: {exc.problems[0].message}")
                return None
        return self.files[resolved]


_MISSING = object()


def _typed(data: Any, parts: list[str | int]) -> PathKey:
    """JSON-pointer parts with list indexes as ints, so paths match `Document.locate`."""
    out: list[str | int] = []
    node = data
    for part in parts:
        if isinstance(node, list) and isinstance(part, str) and part.isdigit():
            out.append(int(part))
            node = node[int(part)] if int(part) < len(node) else None
        else:
            out.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(out)


def _lookup(data: Any, path: PathKey) -> Any:
    node = data
    for part in path:
        in_map = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            node = node[part]
        else:
            return _MISSING
    return node


def open_source(file: Path) -> Source:
    """Read the root OpenAPI/Swagger file (YAML or JSON); a syntax error is a located SpecError."""
    shown = str(file)
    doc = parse(read_text(file, shown), shown)
    if not isinstance(doc.data, dict):
        raise SpecError.single(Location(shown, 1, 1), "not an OpenAPI document (no mapping)")
    source = Source(Where(doc))
    source.files[file.resolve()] = doc
    return source
