"""One defect per fixture file: `load` refuses each at the culprit's exact line, naming it.

Every file in tests/fixtures/specs/invalid/ is a small valid spec (a trimmed copy of the seed)
with exactly one defect, described by its first-line comment.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from naftiko import SpecError, load
from naftiko.cli import app

INVALID = Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "invalid"
NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
FILES = sorted(INVALID.glob("*.yaml"))

# file → (line of the first problem, text the printed problem must contain to name the culprit)
EXPECTED: dict[str, tuple[int, str]] = {
    "adapter-type-unknown.yaml": (46, "unknown type 'graphql'"),
    "baseuri-missing.yaml": (8, "consumes[0].baseUri: missing required field 'baseUri'"),
    "baseuri-template-unbalanced.yaml": (10, "unbalanced braces"),
    "call-names-resource.yaml": (57, "'batch' is a resource"),
    "call-unknown-namespace.yaml": (39, "no consumes namespace 'grok'"),
    "call-unknown-operation.yaml": (39, "has no operation 'list-batchez'"),
    "call-without-namespace.yaml": (39, "call 'list-batches' must be"),
    "capability-empty.yaml": (5, "needs `exposes` or `consumes`"),
    "comments-only.yaml": (1, "this file is empty"),
    "consumed-output-jsonpath-bad.yaml": (20, "invalid JSONPath '$.['"),
    "consumes-namespace-duplicate.yaml": (30, "duplicate consumes namespace 'groq'"),
    "consumes-type-unknown.yaml": (8, "consumes[0].type: Input should be 'http' (got 'grpc')"),
    "empty.yaml": (1, "this file is empty"),
    "exposes-namespace-duplicate.yaml": (47, "duplicate exposes namespace 'batches-rest'"),
    "exposes-not-a-list.yaml": (30, "capability.exposes: Input should be a valid list"),
    "import-missing-file.yaml": (9, "cannot import './shared/no-such-file.yaml'"),
    "import-unknown-namespace.yaml": (8, "has no consumes namespace 'grok'"),
    "list-document.yaml": (2, "this file is list"),
    "lookup-index-later-step.yaml": (60, "lookup index 'all-batches'"),
    "lookup-index-unknown-step.yaml": (63, "lookup index 'every-batch'"),
    "mcp-transport-unknown.yaml": (49, "(got 'websocket')"),
    "method-bad.yaml": (16, "invalid HTTP method 'FETCH'"),
    "naftiko-key-missing.yaml": (2, "missing `naftiko: 1.0.0-alpha2` version key"),
    "output-jsonpath-bad.yaml": (45, "invalid JSONPath '$.first_id['"),
    "output-raw-format-unknown.yaml": (17, "unknown outputRawFormat 'jsn'"),
    "path-template-unbalanced.yaml": (22, "unbalanced braces"),
    "port-duplicate.yaml": (48, "port 8080 is already used by exposes[0]"),
    "port-fractional.yaml": (32, "exposes[0].port: Input should be a valid integer"),
    "port-list.yaml": (32, "exposes[0].port: Input should be a valid integer"),
    "port-missing.yaml": (30, "rest adapter needs a `port`"),
    "port-negative.yaml": (48, "port -1 is outside 0-65535"),
    "port-out-of-range.yaml": (48, "port 70000 is outside 0-65535"),
    "port-string.yaml": (32, "(got 'eighty')"),
    "ref-unknown.yaml": (63, "ref 'batch-ops.retrieve' names no aggregate function"),
    "scalar-document.yaml": (2, "a spec must be a YAML mapping"),
    "step-call-unknown-operation.yaml": (60, "has no operation 'fetch-batch'"),
    "step-mapping-not-a-step-path.yaml": (63, "mapping value 'id' must be a step path"),
    "step-names-duplicate.yaml": (62, "duplicate step name 'fetch'"),
    "step-type-unknown.yaml": (58, "unknown type 'loop'"),
    "version-legacy-object.yaml": (3, "legacy object form"),
    "version-unsupported.yaml": (2, "unsupported naftiko version '0.4'"),
    "yaml-syntax-error.yaml": (51, "YAML syntax error: mapping values are not allowed"),
    "yaml-tab-indentation.yaml": (4, "tab characters cannot indent YAML"),
    "yaml-two-documents.yaml": (61, "one document per file expected"),
    "method-bad-exposed.yaml": (37, "invalid HTTP method 'FETCH'"),
    "port-boolean.yaml": (32, "exposes[0].port: Input should be a valid integer (got True)"),
    "rest-path-template-unbalanced.yaml": (34, "unbalanced braces"),
    "rest-operation-duplicate.yaml": (40, "second GET on '/v1/batches'"),
    "tool-names-duplicate.yaml": (60, "duplicate tool name 'retrieve-batch'"),
    "tool-name-missing.yaml": (50, "a tool needs a `name`"),
    "call-empty.yaml": (39, "call '' must be"),
    "with-unknown-input.yaml": (59, "declares no input 'batch-idd'"),
    "consumed-parameter-in-unknown.yaml": (28, "(got 'cookie-jar')"),
    "auth-token-unknown-bind.yaml": (13, "no bind namespace 'nowhere'"),
    "exposes-auth-without-token.yaml": (34, "bearer authentication needs a `token`"),
    "non-utf8.yaml": (51, "not UTF-8 text"),
    "yaml-unclosed-quote.yaml": (51, "while scanning a quoted scalar"),
    "yaml-unclosed-flow.yaml": (5, "while parsing a flow sequence"),
    "yaml-recursive-alias.yaml": (5, "alias *info refers to a node that contains it"),
    "yaml-alias-bomb.yaml": (4, "aliases expand beyond ten times the file's size"),
    "yaml-integer-too-long.yaml": (32, "bad YAML value: too many digits"),
    "baseuri-no-scheme.yaml": (10, "needs an http:// or https:// scheme"),
    "parameter-type-unknown.yaml": (29, "unknown type 'strng'"),
    "parameter-pattern-invalid.yaml": (29, "invalid pattern '[a-z'"),
}


def test_every_table_row_names_an_existing_fixture() -> None:
    assert [name for name in EXPECTED if not (INVALID / name).is_file()] == []


@pytest.mark.parametrize(("name", "line", "needle"), [(n, *e) for n, e in EXPECTED.items()])
def test_load_refuses_the_defect_at_its_line_naming_the_culprit(
    name: str, line: int, needle: str
) -> None:
    path = INVALID / name
    with pytest.raises(SpecError) as caught:
        load(path)
    first = caught.value.problems[0]
    assert (first.location.file, first.location.line) == (str(path), line), str(first)
    assert needle in str(first)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_validate_refuses_each_invalid_file_with_a_located_line(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert re.search(rf"^{re.escape(str(path))}:\d+:", result.output, re.MULTILINE), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_validate_process_refuses_every_invalid_file_without_a_traceback() -> None:
    done = subprocess.run(
        [NAFTIKO, "validate", *map(str, FILES)], capture_output=True, text=True, timeout=120
    )
    verdicts = [line.split(" ")[1] for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert (done.returncode, verdicts) == (1, [])
    assert "Traceback" not in done.stdout + done.stderr
