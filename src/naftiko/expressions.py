"""The only module that knows the spec's expression syntaxes.

* Mustache-style templates: `{{X}}`, `{{ns.X}}`, `{{step.field}}` and, in paths, `{x}`.
* `with` values: constants, templates, and references `<prefix>.<name>` (adapter namespace or a
  well-known alias such as `rest`/`tools`, SEMANTICS §11.3 rule 9).
* JSONPath (`$.a.b`, `$` / `$.` = the root) compiled once, and the step-context dot-walk
  (`$.step.a.b`) used by lookups and `mappings`.

Everything is parsed at load time into small immutable objects that are evaluated per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as _jsonpath_parse

import naftiko.safejson as safejson

# `{{{x}}}` (Mustache's unescaped form) is read like `{{x}}`; a `}` after `{{x}}` is text.
_DOUBLE = re.compile(r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{\s*([^{}]*?)\s*\}\}")
_SINGLE_OR_DOUBLE = re.compile(
    r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{\s*([^{}]*?)\s*\}\}|\{\s*([A-Za-z0-9_.$-]+)\s*\}"
)
_NAME = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_.$*-]*$")
REFERENCE_ALIASES = frozenset({"rest", "tools", "mcp", "this", "$this"})


class ExpressionError(ValueError):
    """A malformed expression; the loader turns it into a located SpecError."""


def norm(name: str) -> str:
    """Names compare with `-` and `_` as equivalent (SEMANTICS §11.3 rule 9)."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class Var:
    """`{{name}}` (or `{name}` in a path): a dotted lookup in the evaluation context."""

    name: str
    raw: str = field(default="", compare=False)  # as written (`{{ x }}`, `{x}`), for rewrites

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))


@dataclass(frozen=True)
class Template:
    """Literal text with variables; a template without variables is a constant."""

    source: str
    parts: tuple[str | Var, ...]

    @property
    def variables(self) -> tuple[Var, ...]:
        return tuple(p for p in self.parts if isinstance(p, Var))

    @property
    def is_constant(self) -> bool:
        return not self.variables

    @property
    def single_var(self) -> Var | None:
        """The variable when the whole template is exactly one `{{x}}`."""
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Var) else None

    def render(self, lookup: Callable[[Var], Any], *, encode: Callable[[Any], str] = str) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = lookup(part)
            if value is None:
                continue
            out.append(encode(value))
        return "".join(out)


def to_text(value: Any) -> str:
    """How a value prints inside a template: containers as JSON, booleans in JSON spelling."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return safejson.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e16 else repr(value)
    return str(value)


def number_from_text(text: str) -> int | float | None:
    """The number a text spells (`"42"`, `"1.5"`, also `"nan"`: callers decide what a
    non-finite number means), the one reading shared by input and output coercion; None for
    text that is no number."""
    if not text.isascii() or "_" in text:
        # Python reads `١٢` and `1_000` as numbers; no JSON, query string or API does.
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


@lru_cache(maxsize=4096)
def parse_template(source: str, *, single_braces: bool = False) -> Template:
    """Split `source` into literals and variables; `single_braces` also reads `{x}` (paths)."""
    pattern = _SINGLE_OR_DOUBLE if single_braces else _DOUBLE
    parts: list[str | Var] = []
    pos = 0
    for match in pattern.finditer(source):
        name = next((g for g in match.groups() if g is not None), "")
        if match.start() > pos:
            parts.append(source[pos : match.start()])
        if not name or name[0] in "#^/!>&":
            # Mustache sections and comments are not supported: keep the text literally.
            parts.append(match.group(0))
        else:
            parts.append(Var(name.strip(), match.group(0)))
        pos = match.end()
    if pos < len(source):
        parts.append(source[pos:])
    merged: list[str | Var] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return Template(source, tuple(merged))


def rewrite(template: Template, fill: Callable[[Var], str | None]) -> str:
    """The template's text with each variable replaced by `fill(var)`, or kept as written
    when `fill` gives None (a filled value is never read as a template again)."""
    return "".join(
        part if isinstance(part, str) else (text if (text := fill(part)) is not None else part.raw)
        for part in template.parts
    )


def has_single_braces(source: str) -> bool:
    """Whether a path writes a variable the dialect's way, `{name}`, not `{{name}}`."""
    single = parse_template(source, single_braces=True).variables
    return len(single) > len(parse_template(source).variables)


def unbalanced_braces(source: str) -> int | None:
    """Offset of the first unbalanced `{`/`}` in a path template, or None when balanced."""
    depth = 0
    opened = 0
    for i, ch in enumerate(source):
        if ch == "{":
            if depth == 0:
                opened = i
            depth += 1
            if depth > 3:
                return i
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return i
    return opened if depth else None


# --------------------------------------------------------------------------- with values


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Ref:
    """`<prefix>.<name>`: the input `name` of the unit, type preserved."""

    prefix: str
    name: str


WithValue = Const | Ref | Template


def parse_with_value(value: Any, prefixes: frozenset[str]) -> WithValue:
    """Classify one `with` entry: non-strings are constants, `<prefix>.<name>` a reference."""
    if not isinstance(value, str):
        return Const(value)
    if value.startswith("$this.") and value.count(".") >= 2:
        return Ref("$this", value.split(".", 2)[2])
    head, dot, rest = value.partition(".")
    if dot and rest and (head in prefixes or head in REFERENCE_ALIASES) and _NAME.match(rest):
        return Ref(head, rest)
    template = parse_template(value)
    return Const(value) if template.is_constant else template


def looks_like_reference(value: str) -> bool:
    return re.fullmatch(r"[a-z]+\.[A-Za-z0-9_-]+", value) is not None


# --------------------------------------------------------------------------- JSONPath


@dataclass(frozen=True)
class JsonPath:
    """A compiled JSONPath; `$`/`$.`/empty select the root."""

    source: str
    compiled: Any
    definite: bool

    def find(self, root: Any) -> Any:
        """The value at the path: None when absent, a list for indefinite paths."""
        if self.compiled is None:
            return root
        matches = [m.value for m in self.compiled.find(root)]
        if self.definite:
            return matches[0] if matches else None
        return matches


_INDEFINITE = re.compile(r"\[\s*\*\s*\]|\.\.|\[\s*\?|\[[^\]]*[:,][^\]]*\]|\.\*")


@lru_cache(maxsize=4096)
def compile_jsonpath(source: str) -> JsonPath:
    text = source.strip()
    if text in ("", "$", "$."):
        return JsonPath(source, None, True)
    if not text.startswith("$"):
        text = "$." + text.lstrip(".")
    try:
        # Jayway's `.length()` is jsonpath-ng's `len` extension.
        compiled = _jsonpath_parse(_quote_spaced_names(text).replace(".length()", ".`len`"))
    except JSONPathError as exc:
        raise ExpressionError(f"invalid JSONPath {source!r}: {_first_line(exc)}") from None
    return JsonPath(source, compiled, _INDEFINITE.search(text) is None)


def _quote_spaced_names(text: str) -> str:
    """`$.foo bar.baz` → `$.['foo bar'].baz`, as the reference engine retries it."""
    if " " not in text or "[" in text or "(" in text:
        return text
    head, *names = text.split(".")
    return head + "".join(f".['{n}']" if " " in n else f".{n}" for n in names)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


# --------------------------------------------------------------------------- step paths


@dataclass(frozen=True)
class StepPath:
    """`$.step.a.b` over the step context: object-field walk only (SEMANTICS §2.5)."""

    source: str
    parts: tuple[str, ...]

    def find(self, context: Mapping[str, Any]) -> Any:
        """The value, or `MISSING` when a step or field is absent (a JSON null stays None)."""
        current: Any = context
        for part in self.parts:
            if not isinstance(current, Mapping) or part not in current:
                return MISSING
            current = current[part]
        return current


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def parse_step_path(source: str) -> StepPath | None:
    text = source.strip()
    if not text.startswith("$.") or len(text) < 3:
        return None
    return StepPath(source, tuple(p for p in text[2:].split(".") if p))
