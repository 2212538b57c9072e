"""Mangled OpenAPI documents: every one imports (with warnings) or is refused with a located
error, and every capability written loads. Seeded, so a failure replays."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naftiko.errors import SpecError
from naftiko.spec.loader import load
from naftiko.tools.importer import import_openapi, render
from tests.support.yamlio import dump_yaml, load_yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
JUNK: list[Any] = [
    None,
    1,
    2.5,
    True,
    "x",
    "",
    [],
    {},
    [1],
    {"$ref": "#/nowhere"},
    {"$ref": "#"},
    {"$ref": 3},
    {"type": 5},
    {"properties": 1},
    {"required": [{}]},
    "{a}",
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        yield from _paths(child, (*path, key))


def _mangled(document: Any, rng: random.Random) -> Any:
    out = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(out))[1:])
        parent = out
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
    return out


@pytest.mark.parametrize("seed", range(2))
def test_a_mangled_document_never_crashes_the_importer(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    documents = [
        load_yaml((FIXTURES / "groqcloud-batches.yaml").read_text()),
        json.loads((FIXTURES / "petstore-swagger2.json").read_text()),
    ]
    source, written = tmp_path / "api.yaml", tmp_path / "capability.yaml"
    for _ in range(40):
        source.write_text(dump_yaml(_mangled(rng.choice(documents), rng)))
        try:
            imported = import_openapi(source, capability=True)
        except SpecError as exc:
            assert exc.location.file == str(source)
            continue
        written.write_text(render(imported.document, "yaml"))
        load(written)
