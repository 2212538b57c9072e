"""YAML/JSON text → plain Python data plus a map from every node's path to its line and column.

Everything after this module works on plain data or models; this is the only place that knows
YAML node marks, so every later error can still point at FILE:LINE:COL.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml._yaml import CParser

from naftiko.errors import Location, Problem, SpecError
from naftiko.spec.files import NotAFile, read_bytes

PathKey = tuple[str | int, ...]


# The base loader resolves no implicit types (the slow, per-scalar part of composing);
# plain scalars are typed in `_Converter._scalar`, the same way the safe loader would.
class _PlainResolver(yaml.resolver.BaseResolver):
    """Every node gets its kind's default tag; nothing is matched per scalar or per path."""

    _TAGS: ClassVar[dict[type, str]] = {
        yaml.ScalarNode: yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG,
        yaml.SequenceNode: yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
        yaml.MappingNode: yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    }

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return self._TAGS[kind]


class _Loader(CParser, yaml.constructor.BaseConstructor, _PlainResolver):
    """libyaml's parser (PyYAML's wheels carry it) with the no-op resolver above."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        yaml.constructor.BaseConstructor.__init__(self)
        _PlainResolver.__init__(self)


_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
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


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Loading builds tens of thousands of acyclic, short-lived objects; the cycle collector,
    triggered again and again by them, would cost as much as the parse itself."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


Child = tuple[yaml.Node | None, yaml.Node]


@dataclass
class Document:
    """One parsed file: its data, and its node tree to tell where any value was written.

    Locations are looked up in the tree only when a problem is reported, so loading a large
    spec records no positions at all.
    """

    file: str
    data: Any
    root: yaml.Node | None = None
    duplicates: list[PathKey] = field(default_factory=list)
    # Keyed by id(): the nodes stay alive under `root` as long as the document does.
    _indexes: dict[int, dict[str, Child]] = field(default_factory=dict, repr=False)

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """Location of `path` (its key when `key`), or of its nearest ancestor in the file."""
        node = self.root
        mark = node.start_mark if node is not None else None
        for depth, part in enumerate(path):
            found = self._child(node, part)
            if found is None:
                break
            key_node, node = found
            last = depth == len(path) - 1
            mark = (
                key_node.start_mark if (key and last and key_node is not None) else node.start_mark
            )
        if mark is None:
            return Location(self.file, 1, 1, dotted(path))
        return Location(self.file, mark.line + 1, mark.column + 1, dotted(path))

    def _child(self, node: yaml.Node | None, part: str | int) -> Child | None:
        """(key node, value node) of a mapping entry, or (None, item) of a sequence item."""
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            return self._entries(node).get(part)
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            return (None, node.value[part]) if 0 <= part < len(node.value) else None
        return None

    def _entries(self, node: yaml.MappingNode) -> dict[str, Child]:
        """A mapping's scalar keys → (key, value), built once per mapping: a spec with many
        unknown keys in one mapping gets a warning per key, and a scan per warning made
        loading quadratic (300,000 keys: minutes)."""
        entries = self._indexes.get(id(node))
        if entries is None:
            # Later entries overwrite earlier ones: the last duplicate wins, as in the data.
            entries = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            self._indexes[id(node)] = entries
        return entries


def read_text(path: Path, shown: str) -> str:
    try:
        raw = read_bytes(path)
        return raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise SpecError([Problem(Location(shown), "file not found")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(Location(shown), "is a directory, not a spec file")]) from None
    except NotAFile as exc:
        raise SpecError([Problem(Location(shown), exc.reason)]) from None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - before.rfind(b"\n")
        msg = f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise SpecError([Problem(Location(shown, line, column), msg)]) from None
    except OSError as exc:
        raise SpecError([Problem(Location(shown), f"cannot be read: {exc.strerror}")]) from None


def parse(text: str, shown: str) -> Document:
    """Parse one YAML (or JSON) document, keeping positions; syntax errors become SpecError."""
    try:
        nodes = _compose_all(text)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(exc, text, shown)]) from None
    except yaml.reader.ReaderError as exc:
        raise SpecError([_reader_problem(exc, text, shown)]) from None
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
        doc.root = nodes[0]
        doc.data = _Converter(doc, text).convert(nodes[0])
    return doc


# For an unclosed quote or bracket, the parser notices only at the end of the file; the
# place to show is where the quote or bracket opened (the error's context mark).
_OPENED_AT_CONTEXT = ("while scanning a quoted scalar", "while parsing a flow")


@lru_cache(maxsize=8192)
def _plain_tag(value: str) -> str:
    """The YAML 1.1 type of a plain scalar (`1`, `true`, `~`...); specs repeat few values."""
    return next((t for t, rx in _IMPLICIT.get(value[0], ()) if rx.match(value)), _STR)


def _compose_all(text: str) -> list[yaml.Node]:
    loader = _Loader(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, shown: str) -> Problem:
    context = exc.context or ""
    use_context = exc.context_mark is not None and context.startswith(_OPENED_AT_CONTEXT)
    mark = exc.context_mark if use_context else (exc.problem_mark or exc.context_mark)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    reason = exc.problem or context or "invalid YAML"
    if context and exc.problem:
        reason = f"{exc.problem} ({context})"
    lines = text.splitlines()
    if 0 < line <= len(lines) and "\t" in lines[line - 1][: max(col, 1) + 1]:
        reason = "tab characters cannot indent YAML; use spaces"
    return Problem(Location(shown, line, col), f"YAML syntax error: {reason}")


def _reader_problem(exc: yaml.reader.ReaderError, text: str, shown: str) -> Problem:
    """A character YAML does not allow (NUL, most control characters), at its place."""
    before = text[: exc.position]
    line, column = before.count("\n") + 1, exc.position - before.rfind("\n")
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return Problem(Location(shown, line, column), f"YAML does not allow the character U+{code:04X}")


def _recursive_alias(text: str, shown: str) -> Problem:
    """Where an alias refers to a node that contains it (found by a scan of the events)."""
    open_anchors: list[str | None] = []
    for event in yaml.parse(text, Loader=yaml.CBaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            open_anchors.append(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            open_anchors.pop()
        elif isinstance(event, yaml.AliasEvent) and event.anchor in open_anchors:
            mark = event.start_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            return Problem(
                Location(shown, line, column),
                f"alias *{event.anchor} refers to a node that contains it",
            )
    return Problem(Location(shown, 1, 1), "nesting too deep")


_STR = "tag:yaml.org,2002:str"


class _Converter:
    def __init__(self, doc: Document, text: str) -> None:
        self.doc = doc
        self.text = text
        self.scalars = yaml.SafeLoader("")
        self.path: list[str | int] = []  # where the walk is, for duplicate-key warnings
        # Aliases share nodes, so a few lines can stand for billions of values ("billion
        # laughs"); what a spec can write out in full is bounded by its size.
        self.left = 10 * len(text) + 1000

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        self.left -= 1
        if self.left < 0:
            mark = node.start_mark
            loc = Location(self.doc.file, mark.line + 1, mark.column + 1)
            raise SpecError([Problem(loc, "aliases expand beyond ten times the file's size")])
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if depth > _MAX_DEPTH:
            raise SpecError([_recursive_alias(self.text, self.doc.file)])
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        items = []
        path = self.path
        for i, item in enumerate(node.value):
            path.append(i)
            items.append(self.convert(item, depth + 1))
            path.pop()
        return items

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = node.value
        if node.tag != _STR or node.style or self.text[node.start_mark.index] == "!":
            tag = node.tag  # quoted, block or explicitly tagged: as written
        elif not value:
            return None
        else:
            tag = _plain_tag(value)
        if tag in (_STR, _TIMESTAMP):
            # Most values are strings (the fast path); dates stay text, as the spec's fields are.
            return str(value)
        node.tag = tag
        try:
            return self.scalars.construct_object(node)
        except (yaml.constructor.ConstructorError, ValueError) as exc:
            # ValueError: an integer past Python's 4300 digits (int() refuses to read it).
            problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else "too many digits"
            mark = node.start_mark
            loc = Location(self.doc.file, mark.line + 1, mark.column + 1)
            raise SpecError([Problem(loc, f"bad YAML value: {problem}")]) from None

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        path = self.path
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                mark = key_node.start_mark
                loc = Location(self.doc.file, mark.line + 1, mark.column + 1)
                raise SpecError([Problem(loc, "mapping keys must be plain scalars")])
            key = key_node.value
            if (key == "<<" and not key_node.style) or key_node.tag == _MERGE:
                merged = self.convert(value_node, depth + 1)
                for item in merged if isinstance(merged, list) else [merged]:
                    if isinstance(item, dict):
                        for k, v in item.items():
                            out.setdefault(k, v)
                continue
            key = str(key)
            if key in out:
                self.doc.duplicates.append((*path, key))
            path.append(key)
            out[key] = self.convert(value_node, depth + 1)
            path.pop()
        return out
