"""Turn an upstream body declared with `outputRawFormat` into a JSON-compatible value.

Shapes follow the reference engine (Jackson), so mappings written against it keep working.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import importlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeAlias

import yaml

from naftiko.engine.binary_formats import BINARY_FORMATS, decode
from naftiko.errors import MappingError

JsonValue: TypeAlias = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None

# How the parsers below report a bad body (html.parser asserts; ElementTree's is a SyntaxError).
_BAD_BODY = (ValueError, AssertionError, RecursionError, SyntaxError, csv.Error, yaml.YAMLError)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

try:
    _fast_json: Callable[[bytes], Any] | None = importlib.import_module("orjson").loads
except ImportError:
    _fast_json = None


def parse_body(raw: bytes, fmt: str, *, output_schema: str | None = None) -> JsonValue:
    """Parse `raw` as `fmt`; every unparseable body raises MappingError with a short reason."""
    name = fmt.lower()
    if name in BINARY_FORMATS:
        try:
            decoded: JsonValue = decode(name, raw, output_schema)
        except ValueError as exc:
            raise MappingError(f"upstream answered {name} that cannot be decoded: {exc}") from None
        return decoded
    parser = _PARSERS.get(name)
    if parser is None:
        raise MappingError(f"unknown outputRawFormat {fmt!r} (expected {sorted(_PARSERS)})")
    try:
        return parser(raw, output_schema)
    except _BAD_BODY as exc:
        reason = f"upstream answered {name} that cannot be parsed: {_reason(exc)}"
        # `from None`: the chained exception may quote the body, which must not reach logs.
        raise MappingError(reason) from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _text(raw: bytes) -> str:
    return raw.decode("utf-8-sig")


def _json(raw: bytes) -> JsonValue:
    if not raw.strip():
        return None
    if _fast_json is not None:
        # orjson refuses NaN and integers beyond 64 bits, so stdlib json has the last word.
        with contextlib.suppress(ValueError):
            fast: JsonValue = _fast_json(raw)
            return fast
    value: JsonValue = json.loads(raw)
    return value


def _yaml(raw: bytes) -> JsonValue:
    return _plain_yaml(yaml.load(raw, Loader=_YAML_LOADER), len(raw))


def _plain_yaml(doc: Any, size: int) -> JsonValue:
    """Make safe_load output JSON-compatible: dates, binary, sets and non-string keys."""
    # Aliases share nodes, so a tiny document can expand without bound (billion laughs).
    left = 10 * size + 1000

    def walk(node: Any) -> JsonValue:
        nonlocal left
        left -= 1
        if left < 0:
            raise ValueError("aliases expand beyond ten times the document size")
        if isinstance(node, dict):
            return {_yaml_key(k): walk(v) for k, v in node.items()}
        if isinstance(node, list | set):
            return [walk(item) for item in node]
        if isinstance(node, dt.date):
            return node.isoformat()
        if isinstance(node, bytes):
            return base64.b64encode(node).decode("ascii")
        plain: JsonValue = node
        return plain

    return walk(doc)


def _yaml_key(key: Any) -> str:
    return json.dumps(key) if key is None or isinstance(key, bool) else str(key)


class _RefuseDoctype(ET.TreeBuilder):
    # Also catches declarations the byte check misses (UTF-16 bodies); no DTD, no entities.
    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise ValueError("DOCTYPE declarations are refused")


def _xml(raw: bytes) -> JsonValue:
    if not raw.strip():
        return None
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ValueError("DOCTYPE and ENTITY declarations are refused")
    parser = ET.XMLParser(target=_RefuseDoctype())
    parser.feed(raw)
    value = _xml_value(parser.close())
    # Jackson drops the root element; an empty root reads as an empty object.
    return {} if isinstance(value, str) and not value.strip() else value


def _xml_value(element: ET.Element) -> JsonValue:
    fields: dict[str, JsonValue] = {}
    for name, text in element.attrib.items():
        _add_field(fields, _local(name), text)
    for child in element:
        _add_field(fields, _local(child.tag), _xml_value(child))
    text = (element.text or "") + "".join(child.tail or "" for child in element)
    if not fields:
        return text
    if text.strip():
        fields[""] = text.strip()  # Jackson's key for text next to attributes or children
    return fields


def _add_field(fields: dict[str, JsonValue], name: str, value: JsonValue) -> None:
    # Values are never lists themselves, so a list here always means repeated siblings.
    if name not in fields:
        fields[name] = value
    elif isinstance(previous := fields[name], list):
        previous.append(value)
    else:
        fields[name] = [previous, value]


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _delimited(raw: bytes, delimiter: str) -> JsonValue:
    reader = csv.reader(io.StringIO(_text(raw), newline=""), delimiter=delimiter, strict=True)
    rows = [row for row in reader if row]  # blank lines carry no record
    if not rows:
        return []
    header, *records = rows
    for number, record in enumerate(records, 1):
        if len(record) > len(header):
            raise ValueError(f"record {number} has {len(record)} cells, header has {len(header)}")
    # Short records just lack the trailing fields, as with Jackson's CsvMapper.
    return [dict(zip(header, record, strict=False)) for record in records]


_COMPOUND = re.compile(r"([a-zA-Z][\w-]*)?(?:([#.])([\w-]+))?")
_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"})
_CELL_BREAKS = frozenset({"br", "p", "div", "li"})
_Compound: TypeAlias = tuple[str | None, str | None, str | None]


def check_selector(text: str) -> None:
    """An `html` operation's `outputSchema` selector, checked at startup (MappingError)."""
    _selector(text)


def _selector(text: str) -> list[_Compound]:
    parts = text.split()
    compounds = [_COMPOUND.fullmatch(part) for part in parts]
    if not 1 <= len(parts) <= 2 or not all(m and (m[1] or m[2]) for m in compounds):
        raise MappingError(f"outputSchema selector {text!r} is not supported by this runtime")
    return [(m[1] and m[1].lower(), m[2], m[3]) for m in compounds if m]


def _matches(compound: _Compound, tag: str, attrs: dict[str, str | None]) -> bool:
    name, kind, value = compound
    if name and name != tag:
        return False
    if kind == "#":
        return attrs.get("id") == value
    return kind != "." or value in (attrs.get("class") or "").split()


@dataclass
class _Table:
    counted: bool
    rows: list[list[tuple[bool, list[str]]]] = field(default_factory=list)
    in_cell: bool = False


class _TableCollector(HTMLParser):
    """Collects every table; one counts when it or an enclosing element matches the selector.

    That mirrors select-then-find-tables, so `#wrapper` scopes to the tables inside it.
    """

    def __init__(self, selector: list[_Compound] | None) -> None:
        super().__init__()
        self.selector = selector
        # Open elements as (tag, inside the selector's ancestor part, tables here count).
        self.open: list[tuple[str, bool, bool]] = [("", False, selector is None)]
        self.tables: list[_Table] = []
        self.open_tables: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        _, under, counted = self.open[-1]
        if self.selector:
            found = dict(attrs)
            *ancestor, target = self.selector
            selected = _matches(target, tag, found) and (not ancestor or under)
            under = under or bool(ancestor and _matches(ancestor[0], tag, found))
            counted = counted or selected
        if tag not in _VOID:
            self.open.append((tag, under, counted))
        table = self.open_tables[-1] if self.open_tables else None
        if tag == "table":
            self.tables.append(_Table(counted))
            self.open_tables.append(self.tables[-1])
        elif table and tag == "tr":
            table.rows.append([])
            table.in_cell = False
        elif table and tag in ("td", "th"):
            if not table.rows:
                table.rows.append([])
            table.rows[-1].append((tag == "th", []))
            table.in_cell = True
        elif table and table.in_cell and tag in _CELL_BREAKS:
            table.rows[-1][-1][1].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr") and self.open_tables:
            self.open_tables[-1].in_cell = False
        if all(name != tag for name, _, _ in self.open[1:]):
            return  # stray end tag: HTML parsers ignore it
        while True:
            name = self.open.pop()[0]
            if name == "table":
                self.open_tables.pop()
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.open_tables and self.open_tables[-1].in_cell:
            self.open_tables[-1].rows[-1][-1][1].append(data)


def _html(raw: bytes, output_schema: str | None) -> JsonValue:
    collector = _TableCollector(_selector(output_schema) if output_schema else None)
    collector.feed(_text(raw))
    collector.close()
    tables = [_table_rows(t) for t in collector.tables if t.counted]
    return {"tables": [rows for rows in tables if rows is not None]}


def _table_rows(table: _Table) -> list[JsonValue] | None:
    rows = [row for row in table.rows if row]
    if not rows or not any(is_th for is_th, _ in rows[0]):
        return None  # without a header row there are no field names
    headers = [_collapse(parts) for is_th, parts in rows[0] if is_th]
    data = (row for row in rows[1:] if not any(is_th for is_th, _ in row))
    return [dict(zip(headers, (_collapse(p) for _, p in row), strict=False)) for row in data]


def _collapse(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SEPARATOR = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")


def _markdown(raw: bytes, heading_prefix: str | None) -> JsonValue:
    front, body = _front_matter(_text(raw))
    lines = body.splitlines()
    code = _code_lines(lines)
    sections = _sections(lines, code, heading_prefix or "")
    return {"frontMatter": front, "tables": _md_tables(lines, code), "sections": sections}


def _front_matter(text: str) -> tuple[JsonValue, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            block = "".join(lines[1:end])
            value = _plain_yaml(yaml.load(block, Loader=_YAML_LOADER), len(block))
            if not isinstance(value, dict | None):
                raise ValueError("front matter is not a mapping")
            return value or {}, "".join(lines[end + 1 :])
    return {}, text  # never closed: a thematic break, not front matter


def _code_lines(lines: list[str]) -> list[bool]:
    # Headings and tables inside fenced code blocks are text, not structure.
    fence: str | None = None
    code = []
    for line in lines:
        match = _FENCE.match(line)
        code.append(fence is not None or match is not None)
        if match and fence is None:
            fence = match[1]
        elif match and match[1].startswith(fence or "\0"):
            fence = None
    return code


def _sections(lines: list[str], code: list[bool], prefix: str) -> list[JsonValue]:
    found: list[tuple[str, int, list[str]]] = []
    for line, in_code in zip(lines, code, strict=True):
        heading = None if in_code else _HEADING.fullmatch(line)
        if heading:
            found.append((heading[2] or "", len(heading[1]), []))
        elif found:
            found[-1][2].append(line)
    return [
        {"heading": text, "level": level, "content": "\n".join(content).strip()}
        for text, level, content in found
        if text.startswith(prefix)
    ]


def _md_tables(lines: list[str], code: list[bool]) -> list[JsonValue]:
    tables: list[JsonValue] = []
    i = 0
    while i + 1 < len(lines):
        names = _md_cells(lines[i])
        i += 1
        if code[i - 1] or "|" not in lines[i - 1] or not _is_separator(lines[i], len(names)):
            continue
        rows: list[JsonValue] = []
        while (i := i + 1) < len(lines) and "|" in lines[i] and not code[i]:
            # GFM pads short rows with empty cells and drops the excess of long ones.
            cells = _md_cells(lines[i]) + [""] * len(names)
            rows.append(dict(zip(names, cells, strict=False)))
        tables.append(rows)
    return tables


def _is_separator(line: str, columns: int) -> bool:
    # GFM: the delimiter row must have exactly as many cells as the header row.
    return bool(_SEPARATOR.fullmatch(line.strip())) and len(_md_cells(line)) == columns


def _md_cells(line: str) -> list[str]:
    text = line.strip().removeprefix("|")
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", text)]


_PARSERS: dict[str, Callable[[bytes, str | None], JsonValue]] = {
    "json": lambda raw, _: _json(raw),
    "xml": lambda raw, _: _xml(raw),
    "yaml": lambda raw, _: _yaml(raw),
    "csv": lambda raw, _: _delimited(raw, ","),
    "tsv": lambda raw, _: _delimited(raw, "\t"),
    "psv": lambda raw, _: _delimited(raw, "|"),
    "html": _html,
    "markdown": _markdown,
}
SUPPORTED_FORMATS: frozenset[str] = frozenset(_PARSERS) | BINARY_FORMATS
