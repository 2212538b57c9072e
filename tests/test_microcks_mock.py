"""The Microcks look-alike serves the conformance OpenAPI files the way Microcks does, over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    MockServer,
    UnsupportedMockFeature,
    serve_openapi_mock,
    serve_openapi_mock_in_thread,
)
from tests.support.yamlio import load_yaml

pytestmark = pytest.mark.skipif(
    not (REGISTRY_OPENAPI.is_file() and LEGACY_OPENAPI.is_file()),
    reason="conformance OpenAPI files not available (set NAFTIKO_CONFORMANCE_DIR)",
)

REGISTRY = "naftiko-shipyard-maritime-registry-api"
LEGACY = "naftiko-shipyard-legacy-dockyard-api"
TUTORIAL_VOYAGE = {
    "shipImo": "IMO-9321483",
    "departurePort": "Oslo",
    "arrivalPort": "Singapore",
    "departureDate": "2026-04-10",
    "arrivalDate": "2026-05-02",
    "crewIds": ["CREW-001", "CREW-003"],
    "cargoIds": ["CARGO-2024-0451"],
}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data, {**all_headers, **(headers or {})}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Reply(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers["Content-Type"], error.read())


def example_value(openapi: Path, path: str, name: str) -> Any:
    """The raw example `name` of GET `path`'s 200 response, as written in the file."""
    doc = load_yaml(openapi.read_text(encoding="utf-8"))
    content = doc["paths"][path]["get"]["responses"]["200"]["content"]
    return next(iter(content.values()))["examples"][name]["value"]


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with serve_openapi_mock_in_thread(REGISTRY_OPENAPI, LEGACY_OPENAPI) as server:
        yield server


@pytest.fixture
def registry(mock: MockServer) -> str:
    return mock.base_url_for(REGISTRY)


@pytest.fixture
def legacy(mock: MockServer) -> str:
    return mock.base_url_for(LEGACY)


def test_each_api_is_mounted_under_the_microcks_prefix_of_its_title_and_version(
    mock: MockServer,
) -> None:
    assert mock.root_url.startswith("http://127.0.0.1:")
    assert mock.base_url_for(REGISTRY) == f"{mock.root_url}/rest/{REGISTRY}/1.0.0-alpha2"
    assert mock.base_url_for(LEGACY) == f"{mock.root_url}/rest/{LEGACY}/1.0.0-alpha2"
    assert mock.base_url_for(REGISTRY_OPENAPI) == mock.base_url_for(REGISTRY)
    assert mock.base_url_for(LEGACY_OPENAPI.name) == mock.base_url_for(LEGACY)
    with pytest.raises(KeyError):
        mock.base_url_for("no-such-api")


def test_list_ships_without_status_serves_all_ships_as_json(registry: str) -> None:
    reply = call("GET", f"{registry}/ships")
    assert (reply.status, reply.content_type) == (200, "application/json;charset=UTF-8")
    assert [s["imo_number"] for s in reply.json()] == ["IMO-9321483", "IMO-9456781"]


def test_list_ships_with_an_empty_status_serves_all_ships(registry: str) -> None:
    assert len(call("GET", f"{registry}/ships?status=").json()) == 2


@pytest.mark.parametrize("status", ["active", "maintenance"])
def test_list_ships_with_a_status_serves_the_uri_params_example_for_it(
    registry: str, status: str
) -> None:
    ships = call("GET", f"{registry}/ships?status={status}").json()
    assert len(ships) == 1
    assert all(s["operational_status"] == status for s in ships)


def test_list_ships_with_an_unknown_status_falls_back_to_all_ships(
    mock: MockServer, registry: str
) -> None:
    reply = call("GET", f"{registry}/ships?status=decommissioned")
    assert reply.status == 200
    assert len(reply.json()) == 2
    assert mock.requests[-1].example == "allShips"


@pytest.mark.parametrize(
    ("imo", "name", "built"),
    [("IMO-9321483", "Northern Star", 2015), ("IMO-9456781", "Pacific Dawn", 2018)],
)
def test_get_ship_serves_the_uri_parts_example_of_its_imo(
    registry: str, imo: str, name: str, built: int
) -> None:
    ship = call("GET", f"{registry}/ships/{imo}").json()
    assert (ship["imo_number"], ship["vessel_name"], ship["year_built"]) == (imo, name, built)
    assert ship["dimensions"]["length_overall"] > 0


@pytest.mark.parametrize(
    ("api", "path", "criteria"),
    [
        (REGISTRY, "/ships/IMO-0000000", "/imo_number=IMO-0000000"),
        (REGISTRY, "/voyages/VOY-0000-000", "/voyageId=VOY-0000-000"),
        (LEGACY, "/vessels/LEGACY-0000", "/vesselCode=LEGACY-0000"),
    ],
)
def test_a_path_value_without_an_example_is_a_400_as_in_microcks(
    mock: MockServer, api: str, path: str, criteria: str
) -> None:
    reply = call("GET", mock.base_url_for(api) + path)
    assert reply.status == 400
    assert reply.body.decode() == f"The response {criteria} does not exist!"


def test_get_voyage_serves_the_voyage_example(registry: str) -> None:
    voyage = call("GET", f"{registry}/voyages/VOY-2026-042").json()
    assert voyage["voyageId"] == "VOY-2026-042"
    assert voyage["crewIds"] == ["CREW-001", "CREW-003"]
    assert voyage["status"] == "planned"


def test_create_voyage_runs_the_translated_script_and_echoes_the_request_body(
    mock: MockServer, registry: str
) -> None:
    reply = call("POST", f"{registry}/voyages", TUTORIAL_VOYAGE)
    assert (reply.status, reply.content_type) == (201, "application/json;charset=UTF-8")
    voyage = reply.json()
    for field in ("shipImo", "departurePort", "arrivalPort", "departureDate", "arrivalDate"):
        assert voyage[field] == TUTORIAL_VOYAGE[field]
    assert voyage["voyageId"] == "VOY-2026-042"
    assert voyage["status"] == "planned"
    assert voyage["cargoIds"] == ["CARGO-2024-0451"]
    assert (mock.requests[-1].operation, mock.requests[-1].example) == ("create-voyage", "created")


def test_echoed_request_values_stay_valid_json_and_missing_ones_render_empty(
    registry: str,
) -> None:
    voyage = call("POST", f"{registry}/voyages", {"shipImo": 'The "Ö" ship'}).json()
    assert voyage["shipImo"] == 'The "Ö" ship'
    assert voyage["departurePort"] == ""


def test_a_post_without_a_json_body_still_gets_the_script_example(registry: str) -> None:
    reply = call("POST", f"{registry}/voyages", headers={"Content-Type": "text/plain"})
    assert reply.status == 201
    assert reply.json()["shipImo"] == ""


@pytest.mark.parametrize(
    ("api", "path", "first"),
    [
        (REGISTRY, "/crew", {"crewId": "CREW-001", "fullName": "Erik Lindström"}),
        (REGISTRY, "/cargo", {"cargoId": "CARGO-2024-0451", "weight": 12.5}),
    ],
)
def test_json_operations_without_a_dispatcher_serve_their_only_example(
    mock: MockServer, api: str, path: str, first: dict[str, Any]
) -> None:
    items = call("GET", mock.base_url_for(api) + path).json()
    assert first.items() <= items[0].items()


def test_legacy_vessels_are_served_verbatim_as_xml(legacy: str) -> None:
    reply = call("GET", f"{legacy}/vessels")
    assert (reply.status, reply.content_type) == (200, "application/xml;charset=UTF-8")
    assert reply.body.decode() == example_value(LEGACY_OPENAPI, "/vessels", "allVessels")
    codes = [v.findtext("vesselCode") for v in ET.fromstring(reply.body).iter("vessel")]
    assert codes == ["LEGACY-4012", "LEGACY-2087"]


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("?status=active", ["LEGACY-4012"]),
        ("?status=laid_up", ["LEGACY-2087"]),
        ("?status=scrapped", ["LEGACY-4012", "LEGACY-2087"]),
    ],
)
def test_legacy_vessels_filter_by_status_and_fall_back_to_all(
    legacy: str, query: str, codes: list[str]
) -> None:
    root = ET.fromstring(call("GET", f"{legacy}/vessels{query}").body)
    assert [v.findtext("vesselCode") for v in root.iter("vessel")] == codes


def test_get_vessel_serves_the_xml_detail_of_its_code(legacy: str) -> None:
    reply = call("GET", f"{legacy}/vessels/LEGACY-4012")
    assert reply.content_type == "application/xml;charset=UTF-8"
    vessel = ET.fromstring(reply.body)
    assert (vessel.tag, vessel.findtext("homePort"), vessel.findtext("buildYear")) == (
        "vessel",
        "Liverpool",
        "1998",
    )


def test_legacy_personnel_without_a_dispatcher_is_served_as_xml(legacy: str) -> None:
    reply = call("GET", f"{legacy}/personnel")
    assert reply.content_type == "application/xml;charset=UTF-8"
    assert [e.findtext("emp_id") for e in ET.fromstring(reply.body)] == ["EMP-301", "EMP-302"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/rest/{REGISTRY}/9.9.9/ships"),
        ("GET", "/rest/unknown-api/1.0.0-alpha2/ships"),
        ("GET", "/ships"),
        ("GET", f"/rest/{REGISTRY}/1.0.0-alpha2/ships/IMO-9321483/crew"),
        ("DELETE", f"/rest/{REGISTRY}/1.0.0-alpha2/ships"),
        ("GET", f"/rest/{LEGACY}/1.0.0-alpha2/crew"),
    ],
)
def test_unknown_apis_paths_and_methods_are_a_404(mock: MockServer, method: str, path: str) -> None:
    reply = call(method, mock.root_url + path)
    assert reply.status == 404
    assert reply.body
    assert mock.requests[-1].status == 404


def test_a_trailing_slash_reaches_the_same_operation(registry: str) -> None:
    assert len(call("GET", f"{registry}/ships/?status=active").json()) == 1


def test_every_request_is_recorded_with_method_path_query_headers_and_body(
    mock: MockServer, registry: str, legacy: str
) -> None:
    call("GET", f"{registry}/ships?status=active&x=a%20b", headers={"Authorization": "Bearer t"})
    call("POST", f"{registry}/voyages", TUTORIAL_VOYAGE, headers={"Registry-Version": "v1"})
    call("GET", f"{legacy}/vessels", headers={"X-Dock-Key": "dock"})
    call("GET", f"{mock.root_url}/nowhere")
    first, second, third, fourth = mock.requests
    assert (first.method, first.path, first.query) == (
        "GET",
        f"/rest/{REGISTRY}/1.0.0-alpha2/ships",
        "status=active&x=a%20b",
    )
    assert first.params == {"status": ["active"], "x": ["a b"]}
    assert first.headers["authorization"] == "Bearer t"
    assert (first.api, first.operation, first.example, first.status) == (
        REGISTRY,
        "list-ships",
        "?status=active",
        200,
    )
    assert first.body == b""
    assert second.method == "POST"
    assert second.json() == TUTORIAL_VOYAGE
    assert second.headers["Registry-Version"] == "v1"
    assert second.headers["Content-Type"] == "application/json"
    assert (third.api, third.operation, third.headers["x-dock-key"]) == (
        LEGACY,
        "list-vessels",
        "dock",
    )
    assert (fourth.api, fourth.operation, fourth.status) == (None, None, 404)
    assert [r.operation for r in mock.requests_to(REGISTRY)] == ["list-ships", "create-voyage"]


@pytest.mark.parametrize(
    ("api", "method", "path", "body", "example"),
    [
        (REGISTRY, "GET", "/ships", None, "allShips"),
        (REGISTRY, "GET", "/ships?status=active", None, "?status=active"),
        (REGISTRY, "GET", "/ships/IMO-9321483", None, "/imo_number=IMO-9321483"),
        (REGISTRY, "POST", "/voyages", TUTORIAL_VOYAGE, "created"),
        (REGISTRY, "GET", "/voyages/VOY-2026-042", None, "/voyageId=VOY-2026-042"),
        (REGISTRY, "GET", "/crew", None, "allCrew"),
        (REGISTRY, "GET", "/cargo", None, "allCargo"),
        (LEGACY, "GET", "/vessels", None, "allVessels"),
    ],
)
def test_every_upstream_call_of_the_tutorial_gets_the_example_the_reference_suite_expects(
    mock: MockServer, api: str, method: str, path: str, body: Any, example: str
) -> None:
    reply = call(method, mock.base_url_for(api) + path, body)
    assert reply.status in (200, 201)
    assert mock.requests[-1].example == example


@pytest.mark.asyncio
async def test_the_async_server_answers_an_aiohttp_client() -> None:
    async with (
        serve_openapi_mock(REGISTRY_OPENAPI) as server,
        aiohttp.ClientSession() as session,
        session.get(server.base_url_for(REGISTRY) + "/ships/IMO-9456781") as response,
    ):
        assert response.status == 200
        assert (await response.json())["vessel_name"] == "Pacific Dawn"
    assert [r.example for r in server.requests] == ["/imo_number=IMO-9456781"]


def test_the_thread_server_stops_listening_when_its_block_exits() -> None:
    with serve_openapi_mock_in_thread(LEGACY_OPENAPI) as server:
        url = server.base_url_for(LEGACY) + "/personnel"
        assert call("GET", url).status == 200
    with pytest.raises(urllib.error.URLError):
        call("GET", url)


def test_a_startup_failure_is_raised_in_the_caller(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError),
        serve_openapi_mock_in_thread(tmp_path / "missing.yaml"),
    ):
        pass  # pragma: no cover - never entered


def test_an_untranslated_script_is_refused_when_the_file_is_loaded(tmp_path: Path) -> None:
    spec = tmp_path / "scripted.yaml"
    operation = {
        "x-microcks-operation": {"dispatcher": "SCRIPT", "dispatcherRules": "def x = 1\nreturn x"},
        "responses": {"200": {"description": "ok"}},
    }
    document = {"openapi": "3.0.3", "info": {"title": "s", "version": "1"}}
    spec.write_text(json.dumps({**document, "paths": {"/x": {"get": operation}}}))
    with pytest.raises(UnsupportedMockFeature), serve_openapi_mock_in_thread(spec):
        pass  # pragma: no cover - never entered


HELLO_API = """
openapi: 3.0.3
info: {title: Hello API, version: "1.0"}
paths:
  /hello/{name}:
    get:
      parameters:
        - {name: name, in: path, required: true, examples: {world: {value: world}}}
      responses:
        "200":
          description: greeting
          content:
            application/json:
              examples:
                world:
                  value:
                    who: "{{ request.path[1] }}"
                    lang: "{{ request.params[lang] || request.headers[Accept-Language] }}"
                    trace: "Trace {{ request.headers[X-Trace] }}!"
                    id: "{{ uuid() }}"
                    millis: "{{ now() }}"
                    day: "{{ now(yyyy-MM-dd) }}"
                    unknown: "{{ randomCity() }}"
"""


def test_without_microcks_extension_the_dispatcher_is_inferred_and_templates_see_the_request(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text(HELLO_API)
    with serve_openapi_mock_in_thread(spec) as server:
        base = server.base_url_for("Hello API")
        assert base.endswith("/rest/Hello+API/1.0")
        headers = {"X-Trace": "t-1", "Accept-Language": "fr"}
        greeting = call("GET", f"{base}/hello/world", headers=headers).json()
        with_lang = call("GET", f"{base}/hello/world?lang=de", headers=headers).json()
        stranger = call("GET", f"{base}/hello/stranger")
    assert greeting["who"] == "world"
    assert (greeting["lang"], with_lang["lang"]) == ("fr", "de")
    assert greeting["trace"] == "Trace t-1!"
    assert len(greeting["id"]) == 36
    assert greeting["id"] != with_lang["id"]
    assert greeting["millis"].isdigit()
    assert len(greeting["day"]) == 10
    assert greeting["day"][4] == "-"
    assert greeting["unknown"] == ""
    assert stranger.status == 400
