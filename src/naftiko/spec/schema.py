"""`validate --strict`: the official alpha2 JSON Schema, each violation at its line."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from naftiko.errors import Problem
from naftiko.spec.source import Document


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    text = resources.files("naftiko").joinpath("schemas/naftiko-schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def schema_problems(doc: Document) -> list[Problem]:
    """Every leaf violation of the official schema, sorted by line."""
    problems = []
    for error in _validator().iter_errors(doc.data):
        for leaf in _leaves(error):
            path = tuple(leaf.absolute_path)
            problems.append(Problem(doc.locate(path), f"schema: {_describe(leaf)}"))
    unique = {(p.location.line, p.location.column, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.location.line, p.location.column))


def _leaves(error: ValidationError) -> list[ValidationError]:
    """Follow oneOf/anyOf into the branch the `type` discriminator (or fewest errors) selects."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    # The intended branch is the one whose `type` matches, then the one that got furthest.
    chosen = min(
        branches.values(),
        key=lambda subs: (
            _mismatches_type(subs),
            -max(len(e.relative_path) for e in subs),
            len(subs),
        ),
    )
    if len(chosen) > 6 and error.validator == "oneOf":
        return [error]
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def _mismatches_type(errors: list[ValidationError]) -> bool:
    return any(
        e.validator in ("const", "enum") and list(e.relative_path)[-1:] == ["type"] for e in errors
    )


def _describe(error: ValidationError) -> str:
    message = str(error.message)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return message.replace("(", "").replace(")", "")
    return message if len(message) < 200 else message[:197] + "..."
