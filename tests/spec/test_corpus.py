"""Third-party specs (../shared/corpus): each loads or is refused as EXPECTED.tsv says.

`load` → a capability; `refuse` → SpecError naming the file and a line; `load-or-refuse` (an older
spec version) → either, and a refusal names that version; `support` (secrets, mock OpenAPI) → not
loaded as a capability. Anything else raised is a failure.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import pytest

from naftiko import SpecError, load
from tests.support.shared import CORPUS

# How a refusal names a version that is not a version number.
VERSION_WORDS = {"legacy-object": "legacy object form"}


@dataclass(frozen=True)
class Row:
    path: str
    version: str
    expect: str
    why: str


def _rows() -> list[Row]:
    with (CORPUS / "EXPECTED.tsv").open(encoding="utf-8", newline="") as table:
        return [Row(**record) for record in csv.DictReader(table, delimiter="\t")]


ROWS = _rows()


def _rows_expecting(expectation: str) -> list[Row]:
    return [row for row in ROWS if row.expect == expectation]


def _path(row: Row) -> str:
    return row.path


def test_every_row_expects_one_of_the_four_outcomes() -> None:
    outcomes = {"load", "refuse", "load-or-refuse", "support"}
    assert [row.path for row in ROWS if row.expect not in outcomes] == []


def test_every_yaml_file_in_the_corpus_is_listed_in_expected_tsv() -> None:
    on_disk = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file()
    }
    assert sorted(on_disk - {row.path for row in ROWS}) == []


@pytest.mark.parametrize("row", _rows_expecting("load"), ids=_path)
def test_a_file_expected_to_load_loads(row: Row) -> None:
    load(CORPUS / row.path)


@pytest.mark.parametrize("row", _rows_expecting("refuse"), ids=_path)
def test_a_file_expected_to_be_refused_is_refused_at_a_located_line(row: Row) -> None:
    path = CORPUS / row.path
    with pytest.raises(SpecError) as caught:
        load(path)
    assert re.match(rf"{re.escape(str(path))}:\d+:", str(caught.value)), str(caught.value)


@pytest.mark.parametrize("row", _rows_expecting("load-or-refuse"), ids=_path)
def test_an_older_version_file_loads_or_is_refused_naming_its_version(row: Row) -> None:
    try:
        load(CORPUS / row.path)
    except SpecError as refused:
        assert VERSION_WORDS.get(row.version, row.version) in str(refused)


@pytest.mark.parametrize("row", _rows_expecting("support"), ids=_path)
def test_a_support_file_is_not_loaded_as_a_capability(row: Row) -> None:
    with pytest.raises(SpecError):
        load(CORPUS / row.path)
