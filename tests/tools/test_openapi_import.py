"""`naftiko import openapi`: what it writes for each shape of document, and how it warns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from naftiko.cli import app
from naftiko.model import ExposesMcp, ExposesRest
from naftiko.spec.loader import load
from naftiko.tools.importer import import_openapi, render
from tests.support.shared import CONFORMANCE_DIR
from tests.support.yamlio import load_yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
GROQ = FIXTURES / "groqcloud-batches.yaml"
PETS = FIXTURES / "petstore-swagger2.json"
LIBRARY = FIXTURES / "library" / "library.yaml"
MICROCKS = sorted(CONFORMANCE_DIR.glob("microcks/*.yaml"))


def _write(tmp_path: Path, text: str, name: str = "api.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_consumes_document_is_the_shared_file_the_reference_writes(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["import", "openapi", str(GROQ), "-o", str(tmp_path / "c.yml")])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "c.yml").read_text()
    assert text.startswith("# @naftiko\n---\n")
    (consumes,) = load_yaml(text)["consumes"]
    assert (consumes["namespace"], consumes["baseUri"]) == ("groq-cloud", "https://api.groq.com")
    assert consumes["authentication"] == {"type": "bearer", "token": "{{BEARER_TOKEN}}"}
    retrieve = consumes["resources"][1]
    assert retrieve["path"] == "/openai/v1/batches/{{batch_id}}"
    assert retrieve["operations"][0]["inputParameters"] == [
        {
            "name": "batch_id",
            "in": "path",
            "type": "string",
            "description": "The ID of the batch.",
            "required": True,
        }
    ]


def test_an_imported_capability_loads_with_a_rest_route_and_a_tool_per_operation(
    tmp_path: Path,
) -> None:
    imported = import_openapi(PETS, capability=True)
    spec = _write(tmp_path, render(imported.document, "yaml"), "pets.naftiko.yaml")
    rest, mcp = load(spec).body.exposes
    assert isinstance(rest, ExposesRest) and isinstance(mcp, ExposesMcp)
    routes = [(op.method, r.path) for r in rest.resources for op in r.operations]
    assert routes == [
        ("GET", "/api/v2/pets"),
        ("POST", "/api/v2/pets"),
        ("GET", "/api/v2/pets/{{petId}}"),
        ("POST", "/api/v2/pets/{{petId}}"),
        ("DELETE", "/api/v2/pets/{{petId}}"),
        ("POST", "/api/v2/pets/{{petId}}/photo"),
    ]
    assert [(t.name, t.hints.destructive if t.hints else None) for t in mcp.tools] == [
        ("find-pets", False),
        ("add-pet", False),
        ("get-pet-by-id", False),
        ("update-pet-with-form", False),
        ("delete-pet", True),
        ("upload-photo", False),
    ]


def test_unsupported_constructs_are_warnings_located_in_the_file_that_holds_them() -> None:
    warnings = [str(w) for w in import_openapi(LIBRARY, capability=True).warnings]
    library, schemas = str(LIBRARY), str(LIBRARY.parent / "schemas.yaml")
    assert warnings == [
        f"{LIBRARY.parent / 'paths' / 'books.yaml'}:71:13: book.put.requestBody.content."
        "application/json.schema: body fields ['isbn'] clash with parameters: one `body` input",
        f"{schemas}:63:9: Loan.properties.callbackUrl.not: "
        "schema keyword 'not' is not carried over",
        f"{library}:37:9: paths./loans.post.callbacks: `callbacks` are not imported",
    ]


def test_cross_file_and_recursive_schemas_are_resolved_into_finite_inputs(tmp_path: Path) -> None:
    imported = import_openapi(LIBRARY, capability=True)
    (consumes,) = imported.document["capability"]["consumes"]
    assert consumes["baseUri"] == "https://central.library.example.org/v3"
    assert consumes["authentication"] == {
        "type": "basic",
        "username": "{{CITY_LIBRARY_USERNAME}}",
        "password": "{{CITY_LIBRARY_PASSWORD}}",
    }
    tool = imported.document["capability"]["exposes"][1]["tools"][3]
    assert [(p["name"], p["type"], p["required"]) for p in tool["inputParameters"]] == [
        ("isbn", "string", True),
        ("member", "object", True),
        ("due", "string", False),
        ("callbackUrl", "string", False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openapi: 3.0.0\npaths: [1, 2]\n", "no paths: nothing to import"),
        (
            "openapi: 3.1.0\ninfo: {title: X}\npaths:\n  /a:\n    get:\n      parameters:\n"
            "        - $ref: '#/nowhere'\n",
            "$ref '#/nowhere' points at nothing",
        ),
        (
            "swagger: '2.0'\ninfo: {title: X}\npaths:\n  /a:\n    get:\n      responses:\n"
            "        '200': {schema: {$ref: 'http://example.org/s.json'}}\n",
            "remote $ref 'http://example.org/s.json' is not fetched; left untyped",
        ),
    ],
)
def test_a_broken_document_imports_with_a_warning_instead_of_a_crash(
    tmp_path: Path, text: str, message: str
) -> None:
    imported = import_openapi(_write(tmp_path, text), capability=True)
    assert message in [w.message for w in imported.warnings]


def test_a_file_that_is_not_openapi_is_one_located_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "naftiko: 1.0.0-alpha2\n")
    done = CliRunner().invoke(app, ["import", "openapi", str(path)])
    assert done.exit_code == 1
    assert "expected `openapi: 3.x` or `swagger: '2.0'`" in str(done.exception)


def test_json_output_has_no_yaml_marker(tmp_path: Path) -> None:
    out = tmp_path / "groq.json"
    done = CliRunner().invoke(
        app, ["import", "openapi", str(GROQ), "-f", "json", "-n", "groq", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["consumes"][0]["namespace"] == "groq"


@pytest.mark.parametrize("source", [GROQ, PETS, LIBRARY, *MICROCKS], ids=lambda p: p.name)
def test_with_strict_every_document_imports_to_a_capability_the_official_schema_accepts(
    tmp_path: Path, source: Path
) -> None:
    out = tmp_path / "capability.yaml"
    runner = CliRunner()
    args = ["import", "openapi", str(source), "--capability", "--strict", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    done = runner.invoke(app, ["validate", "--strict", str(out)])
    assert (done.exit_code, done.output) == (0, f"ok {out} (0 warnings)\n")
