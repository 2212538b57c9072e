"""The REST adapter's route table: a path finds its routes by segment, whatever their number.

Scanning every route's regex made the last of 1,000 routes cost a thousand matches (issue 13,
goal 2). The table is a tree keyed by path segment, built once at start: a literal segment is a
dict lookup, a segment holding a variable (`{id}`, `v{n}.json`) is one "any segment" branch,
and a route whose `path` variable spans segments is kept aside. The few routes a path reaches
are then confirmed by their own regex, in spec order, so the answer is exactly the one the
full scan gave: the first route whose path and method match wins, and every other route at
that path lists its method in `Allow`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from naftiko.engine.exposed import Route
from naftiko.errors import InputError
from naftiko.expressions import parse_template

_FEW = 8


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    routes: list[int] = field(default_factory=list)  # indexes of routes ending here


class Match(NamedTuple):
    """What a request's method and path found: the route (None if none), its decoded
    variables, and the methods of the other routes at that path."""

    route: Route | None
    variables: dict[str, str]
    allowed: list[str]
    name: str = "-"  # `METHOD /template`, the metrics label, made once per route


class RouteTable:
    """Routes by segment; `match` costs the same for the first route and the thousandth."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._routes = routes
        # The operation id of SEMANTICS §8.3 (metrics, spans): `<resource path> <METHOD>`.
        self._names = tuple(f"{route.path} {route.method}" for route in routes)
        self._root = _Node()
        self._spanning: list[int] = []  # routes with a `path` variable: checked on every path
        # A handful of regexes are matched faster than the tree is walked (the seed has 3).
        self._few = list(range(len(routes))) if len(routes) <= _FEW else None
        # The last path's regex results: the edge asks `methods_at` (404/405) and then the
        # adapter `match` for the same path, so the route regexes run once per request.
        # A pure function of the path, so a request that interleaves just costs a rescan.
        self._last: tuple[str, list[tuple[int, re.Match[str]]]] = ("", [])
        self._last_methods: tuple[str, frozenset[str]] = ("", frozenset())
        for index, route in enumerate(routes):
            segments = _segments(route.path)
            if segments is None:
                self._spanning.append(index)
                continue
            node = self._root
            for segment in segments:
                if segment is None:
                    node.variable = node.variable or _Node()
                    node = node.variable
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append(index)

    def candidates(self, path: str) -> list[int]:
        """Indexes, in spec order, of the routes whose shape fits `path` (regex still to check).
        The list may be the table's own: read it, never change it."""
        if self._few is not None:
            return self._few
        found = _walk(self._root, path.split("/"), 0)
        if not self._spanning:
            return found
        return sorted(found + self._spanning)

    def _scan(self, path: str) -> list[tuple[int, re.Match[str]]]:
        """The routes whose regex matches `path`, in spec order, with their matches."""
        last_path, found = self._last
        if last_path == path and last_path:
            return found
        routes = self._routes
        found = []
        for index in self.candidates(path):
            hit = routes[index].regex.match(path)
            if hit is not None:
                found.append((index, hit))
        self._last = (path, found)
        return found

    def match(self, method: str, path: str) -> Match:
        allowed: list[str] = []
        # HEAD is GET without the body (RFC 9110 §9.3.2); the server drops the body.
        wanted = "GET" if method == "HEAD" else method
        for index, found in self._scan(path):
            route = self._routes[index]
            if route.method == wanted or route.method == "*":
                variables = {}
                for group, name in route.variables:
                    value = found.group(group)
                    plain = "%" not in value and value.isascii()
                    variables[name] = value if plain else _decoded(name, value)
                return Match(route, variables, allowed, self._names[index])
            allowed.append(route.method)
        return Match(None, {}, allowed)

    def methods_at(self, path: str) -> frozenset[str]:
        """The methods of every route at `path` (kept with the last path's scan)."""
        last_path, methods = self._last_methods
        if last_path == path and last_path:
            return methods
        methods = frozenset(self._routes[index].method for index, _ in self._scan(path))
        self._last_methods = (path, methods)
        return methods


def _decoded(name: str, value: str) -> str:
    """A path value's text: `value` is the raw path's bytes read as latin-1, percent-escapes
    and all. Bytes that are not UTF-8 are refused rather than replaced by U+FFFD, which would
    send the upstream a value the caller never wrote."""
    try:
        return unquote_to_bytes(value.encode("latin-1")).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "the path value is not UTF-8 text") from None


def _segments(template: str) -> list[str | None] | None:
    """The template's path segments as the one template parser reads them (the parser
    `compile_path` builds each route's regex with): a literal segment's text, None for one
    holding a variable; None for a template whose `path` variable spans segments."""
    segments: list[str | None] = [""]
    for part in parse_template(template, single_braces=True).parts:
        if not isinstance(part, str):
            if part.name == "path":
                return None
            segments[-1] = None
            continue
        first, *rest = part.split("/")
        current = segments[-1]
        segments[-1] = None if current is None else current + first
        segments.extend(rest)
    return segments


def _walk(node: _Node, segments: list[str], index: int) -> list[int]:
    """The routes ending where `segments[index:]` leads from `node`; a path that both a
    literal and a variable segment fit follows both, and keeps spec order."""
    while index < len(segments):
        literal = node.literal.get(segments[index])
        variable = node.variable
        index += 1
        if variable is None:
            if literal is None:
                return []
            node = literal
        elif literal is None:
            node = variable
        else:
            return sorted(_walk(literal, segments, index) + _walk(variable, segments, index))
    return node.routes
