"""The REST route table finds exactly what a scan of every route in spec order found."""

from __future__ import annotations

import itertools
from urllib.parse import unquote

import pytest

from naftiko.adapters.rest_routes import RouteTable
from naftiko.engine.exposed import Route, compile_path
from naftiko.engine.plan import Action

TEMPLATES = [
    ("GET", "/items/{id}"),
    ("GET", "/items/special"),  # declared after the variable route: the variable one wins
    ("POST", "/items/special"),
    ("DELETE", "/items/{id}"),
    ("GET", "/items/{id}/parts/{part}"),
    ("GET", "/files/{name}.json"),
    ("PUT", "/files/{name}.json"),
    ("*", "/proxy/{path}"),
    ("GET", "/"),
    ("GET", "/trailing/"),
    ("PATCH", "/a{b}c/d"),
]
PATHS = [
    "/items/1",
    "/items/special",
    "/items/a%2Fb",
    "/items/1/parts/x",
    "/items/1/parts/",
    "/items/",
    "/items",
    "/files/report.json",
    "/files/report.xml",
    "/proxy/a/b/c",
    "/proxy/",
    "/",
    "/trailing/",
    "/trailing",
    "/axc/d",
    "/ac/d",
    "/nothing/here",
    "",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def _routes(count: int = len(TEMPLATES)) -> tuple[Route, ...]:
    routes = []
    for method, path in TEMPLATES[:count]:
        regex, variables = compile_path(path)
        action = Action(name=f"{method} {path}", namespace="t", mode="mock")
        routes.append(Route(method, path, regex, variables, action))
    return tuple(routes)


def _scan(
    routes: tuple[Route, ...], method: str, path: str
) -> tuple[Route | None, dict[str, str], list[str]]:
    """The linear scan the table replaces: the first route whose regex and method match."""
    allowed: list[str] = []
    wanted = "GET" if method == "HEAD" else method
    for route in routes:
        match = route.regex.match(path)
        if match is None:
            continue
        if route.method in (wanted, "*"):
            return route, {n: unquote(match.group(g)) for g, n in route.variables}, allowed
        allowed.append(route.method)
    return None, {}, allowed


@pytest.mark.parametrize("count", [len(TEMPLATES), 5], ids=["tree", "few routes"])
def test_every_method_and_path_finds_what_a_scan_in_spec_order_finds(count: int) -> None:
    routes = _routes(count)
    table = RouteTable(routes)
    for method, path in itertools.product(METHODS, PATHS):
        found = table.match(method, path)
        assert (found.route, found.variables, found.allowed) == _scan(routes, method, path), (
            method,
            path,
        )


def test_a_match_is_named_by_its_method_and_template() -> None:
    table = RouteTable(_routes())
    assert table.match("GET", "/items/7/parts/9").name == "GET /items/{id}/parts/{part}"
    assert table.match("GET", "/nothing").name == "-"


def test_methods_at_a_path_are_those_of_every_route_there() -> None:
    routes = _routes()
    table = RouteTable(routes)
    for path in PATHS:
        assert table.methods_at(path) == {r.method for r in routes if r.regex.match(path)}


def test_the_thousandth_route_is_found_among_a_thousand() -> None:
    routes = []
    for i in range(1000):
        regex, variables = compile_path(f"/items-{i}/{{id}}")
        routes.append(
            Route("GET", f"/items-{i}/{{id}}", regex, variables, Action("a", "t", "mock"))
        )
    table = RouteTable(tuple(routes))
    found = table.match("GET", "/items-999/x")
    assert found.route is routes[999]
    assert found.variables == {"id": "x"}
    assert table.candidates("/items-999/x") == [999]  # one regex matched, not a thousand
    assert found.name == "GET /items-999/{id}"
