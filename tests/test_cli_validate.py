"""`naftiko validate`: through CliRunner (the same click app, in-process), and once through the
installed console script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from naftiko.cli import app
from tests.support.shared import TUTORIAL

NAFTIKO = str(Path(sys.executable).with_name("naftiko"))
REPO = Path(__file__).resolve().parents[1]
SEED = str(REPO / "examples" / "groq-batch.yaml")
TUTORIAL_FILES = sorted(TUTORIAL.glob("*.yml"))
BAD_PORT = str(REPO / "tests" / "fixtures" / "specs" / "invalid" / "port-string.yaml")


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def _validate(*args: str) -> Done:
    result = CliRunner().invoke(app, ["validate", *args])
    # Anything but the exit itself would have been a traceback from the console script.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


def test_the_installed_console_script_finds_the_seed_valid_with_warnings() -> None:
    done = subprocess.run(
        [NAFTIKO, "validate", SEED], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert re.fullmatch(rf"ok {re.escape(SEED)} \([1-9][0-9]* warnings\)\n", done.stdout)
    assert done.stderr == ""


def test_the_seed_is_valid_with_warnings() -> None:
    done = _validate(SEED)
    assert done.returncode == 0
    assert re.fullmatch(rf"ok {re.escape(SEED)} \([1-9][0-9]* warnings\)\n", done.stdout)


def test_strict_lists_the_seeds_14_schema_deviations_each_located_and_exits_1() -> None:
    done = _validate("--strict", SEED)
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert lines[-1] == f"invalid {SEED} (14 errors)"
    assert len([line for line in lines if line.startswith(f"{SEED}:")]) == 14
    assert (
        f"{SEED}:47:13: capability.consumes[0].resources[1].name: schema: "
        "'openai-v1-batches-batch_id' does not match '^[a-zA-Z0-9-]+$'"
    ) in lines
    assert (
        f"{SEED}:154:9: capability.exposes[1].tools[0].outputParameters[0]: schema: "
        "'properties' is a required property"
    ) in lines


@pytest.mark.parametrize("spec", TUTORIAL_FILES, ids=[f.name for f in TUTORIAL_FILES])
def test_every_tutorial_step_passes_strict_validation(spec: Path) -> None:
    # Step 11's shared consumes write `REGISTRY_TOKEN`/`REGISTRY_VERSION` without braces:
    # read as the bound variables, each with a warning.
    warnings = 2 if spec.name.startswith("step-11") else 0
    result = CliRunner().invoke(app, ["validate", "--strict", str(spec)])
    assert (result.exit_code, result.output) == (0, f"ok {spec} ({warnings} warnings)\n")


def test_the_tutorial_is_all_there() -> None:
    assert len(TUTORIAL_FILES) == 11


def test_json_output_reports_each_file_with_its_errors_and_warnings() -> None:
    done = _validate("--format", "json", SEED, BAD_PORT)
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert [(r["file"], r["valid"], len(r["errors"])) for r in report] == [
        (SEED, True, 0),
        (BAD_PORT, False, 1),
    ]
    assert report[1]["errors"][0] == {
        "file": BAD_PORT,
        "line": 32,
        "column": 11,
        "path": "capability.exposes[0].port",
        "message": "Input should be a valid integer (got 'eighty')",
    }
    assert report[0]["warnings"][0].keys() == {"file", "line", "column", "path", "message"}


def test_verbose_prints_each_warning_at_its_line() -> None:
    done = _validate("-v", SEED)
    assert done.returncode == 0
    assert (
        f"{SEED}:48:13: capability.consumes[0].resources[1].path: warning: "
        "single-brace `{name}` path variables read as `{{name}}`"
    ) in done.stdout.splitlines()


def test_without_verbose_no_warning_is_printed() -> None:
    assert "warning:" not in _validate(SEED).stdout


@pytest.mark.parametrize(
    "args",
    [(), ("--no-such-option", SEED), ("--format", "xml", SEED)],
    ids=["no-files", "unknown-option", "unknown-format"],
)
def test_a_usage_error_exits_2(args: tuple[str, ...]) -> None:
    done = _validate(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_file_is_invalid_and_says_file_not_found(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.yaml")
    done = _validate(missing)
    assert (done.returncode, done.stdout) == (
        1,
        f"{missing}: file not found\ninvalid {missing} (1 error)\n",
    )


def test_one_invalid_file_among_valid_ones_makes_the_run_exit_1() -> None:
    done = _validate(SEED, BAD_PORT)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == f"invalid {BAD_PORT} (1 error)"
