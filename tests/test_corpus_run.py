"""Every published spec runs: each `load` file of ../shared/corpus that exposes REST or HTTP MCP
adapters is started as `naftiko run` would start it, against one recording loopback upstream,
and every REST operation and MCP tool is called with arguments synthesised from the schema it
advertises. What the upstream received is judged (method, encoded path, no `{{`, credentials,
every argument delivered, valid JSON bodies).

A failure the spec itself causes is listed, with its reason, in fixtures/corpus_run/known.tsv;
so is a gateway defect owned by another change. A row that no longer happens fails the test too,
so the table stays true.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.corpus_run import Report, Upstream, copy_corpus, run_corpus
from tests.support.servers import serve_app
from tests.support.shared import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "corpus_run"


def _table(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as table:
        return [row for row in csv.DictReader(table, delimiter="\t") if row["spec"]]


def _load_rows() -> list[str]:
    with (CORPUS / "EXPECTED.tsv").open(encoding="utf-8", newline="") as table:
        return [r["path"] for r in csv.DictReader(table, delimiter="\t") if r["expect"] == "load"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    folder = tmp_path_factory.mktemp("corpus-run")
    scripts = folder / "scripts"
    shutil.copytree(FIXTURES, scripts, ignore=shutil.ignore_patterns("*.tsv"))
    upstream = Upstream()
    with serve_app(upstream.app()) as url:
        root = copy_corpus(CORPUS, folder, url, scripts)
        yield run_corpus([(path, root / path) for path in _load_rows()], upstream)


def test_every_spec_that_serves_adapters_starts_or_is_refused_for_a_listed_reason(
    report: Report,
) -> None:
    expected = {row["spec"]: row["reason"] for row in _table("refused.tsv")}
    refused = {
        spec: reason
        for spec, reason in report.refused.items()
        if spec not in expected or expected[spec] not in reason
    }
    assert refused == {}
    assert sorted(set(expected) - set(report.refused)) == []
    assert len(report.started) + len(report.refused) + len(report.skipped) == len(_load_rows())


def test_every_call_sends_the_upstream_what_the_spec_means_or_is_a_listed_spec_defect(
    report: Report,
) -> None:
    known = {(row["spec"], row["unit"]): row["class"] for row in _table("known.tsv")}
    unexpected = [
        f"{call.spec} | {call.unit} | {call.outcome} | {call.detail}"
        for call in report.calls
        if call.outcome != "ok" and known.get((call.spec, call.unit)) != call.outcome
    ]
    assert unexpected == []
    happened = {(c.spec, c.unit) for c in report.calls if c.outcome != "ok"}
    assert sorted(set(known) - happened) == []


def test_most_calls_are_right(report: Report) -> None:
    outcomes = Counter(call.outcome for call in report.calls)
    assert outcomes["ok"] >= 0.9 * len(report.calls), outcomes
