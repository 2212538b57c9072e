"""YAML/JSON text → plain Python data plus a map from every node's path to its line and column.

Everything after this module works on plain data or models; this is the only place that knows
YAML node marks, so every later error can still point at FILE:LINE:COL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from naftiko.errors import Location, Problem, SpecError

PathKey = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_MAX_DEPTH = 200


def dotted(path: PathKey) -> str:
    """`('capability', 'exposes', 0, 'port')` → `capability.exposes[0].port`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Document:
    """One parsed file: its data and where each value (and each mapping key) was written."""

    file: str
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[PathKey] = field(default_factory=list)

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """Location of `path`, or of its nearest ancestor that exists in the file."""
        probe = path
        while True:
            mark = (self.keys.get(probe) if key else None) or self.values.get(probe)
            if mark is not None:
                return Location(self.file, mark[0], mark[1], dotted(path))
            if not probe:
                return Location(self.file, 1, 1, dotted(path))
            probe = probe[:-1]


def read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError([Problem(Location(shown), "file not found")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(Location(shown), "is a directory, not a spec file")]) from None
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text (byte {exc.start})"
        raise SpecError([Problem(Location(shown), msg)]) from None
    except OSError as exc:
        raise SpecError([Problem(Location(shown), f"cannot be read: {exc.strerror}")]) from None


def parse(text: str, shown: str) -> Document:
    """Parse one YAML (or JSON) document, keeping positions; syntax errors become SpecError."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            reason = f"{exc.problem} ({exc.context})"
        raise SpecError(
            [Problem(Location(shown, line, col), f"YAML syntax error: {reason}")]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(Location(shown, 1, 1), f"YAML error: {exc}")]) from None
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise SpecError(
            [
                Problem(
                    Location(shown, second.line + 1, 1),
                    "one document per file expected",
                )
            ]
        )
    doc = Document(shown, None)
    if nodes:
        doc.data = _Converter(doc).convert(nodes[0], ())
    return doc


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.scalars = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: PathKey, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            loc = Location(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
            raise SpecError([Problem(loc, "nesting too deep (recursive alias?)")])
        self.doc.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _TIMESTAMP:
            # Dates stay text: the spec's date fields are strings, and a datetime would not be JSON.
            return str(node.value)
        try:
            return self.scalars.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            loc = Location(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
            raise SpecError([Problem(loc, f"bad YAML value: {exc.problem}")]) from None

    def _mapping(self, node: yaml.MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in self._pairs(node):
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE:
                merged = self.convert(value_node, path, depth + 1)
                for item in merged if isinstance(merged, list) else [merged]:
                    if isinstance(item, dict):
                        for k, v in item.items():
                            out.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                loc = Location(
                    self.doc.file,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                raise SpecError([Problem(loc, "mapping keys must be plain scalars")])
            key = str(key_node.value)
            child = (*path, key)
            if key in out:
                self.doc.duplicates.append(child)
            self.doc.keys[child] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            self.doc.values[child] = (
                value_node.start_mark.line + 1,
                value_node.start_mark.column + 1,
            )
            out[key] = self.convert(value_node, child, depth + 1)
        return out

    @staticmethod
    def _pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        yield from node.value
