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
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeAlias

import yaml

import naftiko.safejson as safejson
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


def check_selector(text: str) -> None:
    """An `html` operation's `outputSchema` selector, checked at startup (MappingError)."""
    _markup().selector(text)


def _markup() -> ModuleType:
    # XML and HTML parsers load only for a spec that reads those formats (start-up cost).
    return importlib.import_module("naftiko.engine.markup")


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
    # Strict as RFC 8259 (no NaN, Infinity or overflow), so what is mapped out stays JSON.
    value: JsonValue = safejson.upstream(raw)
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
    "xml": lambda raw, _: _markup().xml(raw),
    "yaml": lambda raw, _: _yaml(raw),
    "csv": lambda raw, _: _delimited(raw, ","),
    "tsv": lambda raw, _: _delimited(raw, "\t"),
    "psv": lambda raw, _: _delimited(raw, "|"),
    "html": lambda raw, selector: _markup().html(raw, selector),
    "markdown": _markdown,
}
SUPPORTED_FORMATS: frozenset[str] = frozenset(_PARSERS) | BINARY_FORMATS
