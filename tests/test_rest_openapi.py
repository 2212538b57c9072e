"""The REST adapter's OpenAPI document says exactly what the runtime reads and answers."""

from __future__ import annotations

from typing import Any

import pytest

from naftiko.adapters.openapi import openapi_document
from naftiko.adapters.rest import RestAdapter
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.specs import REPO

SPEC = REPO / "tests" / "fixtures" / "specs" / "openapi-shapes.yaml"
UPSTREAM_ERRORS = ["2XX", "400", "4XX", "502", "504", "5XX"]


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    runtime = build([SPEC], Settings(), {})
    (rest,) = [s.adapter for s in runtime.served if isinstance(s.adapter, RestAdapter)]
    document: dict[str, Any] = openapi_document(rest.plan)
    paths: dict[str, Any] = document["paths"]
    return paths


def test_an_input_fed_by_with_from_a_consumed_path_template_is_a_required_query_parameter(
    paths: dict[str, Any],
) -> None:
    operation = paths["/documents"]["delete"]
    assert operation["parameters"] == [
        {"name": "document_uid", "in": "query", "required": True, "schema": {"type": "string"}}
    ]
    assert sorted(operation["responses"]) == UPSTREAM_ERRORS


def test_body_inputs_read_by_jsonpath_are_nested_where_the_path_puts_them(
    paths: dict[str, Any],
) -> None:
    body = paths["/users"]["post"]["requestBody"]
    assert body == {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "user": {
                            "type": "object",
                            "properties": {
                                "id": {"type": ["string", "number"]},
                                "name": {"type": ["string", "number", "null"]},
                            },
                            "required": ["id"],
                        }
                    },
                    "required": ["user"],
                }
            }
        },
    }


def test_a_mapped_object_output_is_the_success_schema(paths: dict[str, Any]) -> None:
    success = paths["/users"]["post"]["responses"]["2XX"]
    assert success["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"]},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        },
        "required": ["id", "tags"],
    }


def test_upstream_errors_are_documented_in_problem_and_upstream_json(
    paths: dict[str, Any],
) -> None:
    passed = paths["/users"]["post"]["responses"]["4XX"]["content"]
    assert sorted(passed) == ["application/json", "application/problem+json"]
    assert passed["application/problem+json"]["schema"]["required"] == ["type", "title", "status"]


def test_a_mock_answers_200_with_its_object_and_calls_no_upstream(paths: dict[str, Any]) -> None:
    responses = paths["/ping"]["get"]["responses"]
    assert sorted(responses) == ["200", "400", "500"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "count": {"type": ["number", "string"]}},
    }
