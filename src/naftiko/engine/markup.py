"""XML and HTML upstream bodies → JSON values, shaped as the reference engine (Jackson, and
jsoup's select-then-find-tables) shapes them. Loaded by `formats` only for a spec that reads
those formats."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, TypeAlias

from naftiko.errors import MappingError

if TYPE_CHECKING:
    from naftiko.engine.formats import JsonValue


class _RefuseDoctype(ET.TreeBuilder):
    # Also catches declarations the byte check misses (UTF-16 bodies); no DTD, no entities.
    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise ValueError("DOCTYPE declarations are refused")


def xml(raw: bytes) -> JsonValue:
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


_COMPOUND = re.compile(r"([a-zA-Z][\w-]*)?(?:([#.])([\w-]+))?")
_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"})
_CELL_BREAKS = frozenset({"br", "p", "div", "li"})
_Compound: TypeAlias = tuple[str | None, str | None, str | None]


def selector(text: str) -> list[_Compound]:
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


def html(raw: bytes, output_schema: str | None) -> JsonValue:
    collector = _TableCollector(selector(output_schema) if output_schema else None)
    collector.feed(raw.decode("utf-8-sig"))
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
