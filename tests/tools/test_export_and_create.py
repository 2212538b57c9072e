"""`naftiko export openapi` (3.1 and 3.0) and `naftiko create capability` (flags or prompts)."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
from click.testing import CliRunner

from naftiko.cli import app
from tests.support.echo import echo_app
from tests.support.servers import Recorder, serve_app
from tests.support.threaded import naftiko_thread
from tests.support.yamlio import load_yaml

SEED = Path(__file__).resolve().parents[2] / "examples" / "groq-batch.yaml"


def test_export_as_openapi_30_turns_type_lists_into_nullable(tmp_path: Path) -> None:
    out = tmp_path / "openapi.yaml"
    done = CliRunner().invoke(
        app, ["export", "openapi", str(SEED), "--spec-version", "3.0", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    document = load_yaml(out.read_text())
    assert document["openapi"] == "3.0.3"
    assert sorted(document["paths"]) == [
        "/v1/openai/v1/batches",
        "/v1/openai/v1/batches/{batch-id}",
        "/v1/openai/v1/batches/{batch-id}/cancel",
    ]


def test_export_names_the_adapters_when_the_one_asked_for_is_missing() -> None:
    done = CliRunner().invoke(app, ["export", "openapi", str(SEED), "-a", "nope", "-o", "-"])
    assert done.exit_code == 1
    assert "no REST adapter 'nope' (it has: ['groq-batch-rest'])" in str(done.exception)


def test_create_capability_asks_for_what_the_flags_leave_out(tmp_path: Path) -> None:
    out = tmp_path / "shop.naftiko.yaml"
    done = CliRunner().invoke(
        app, ["create", "capability", "-o", str(out)], input="Shop\nhttps://shop.example\n8085\n"
    )
    assert done.exit_code == 0, done.output
    data = load_yaml(out.read_text())
    assert data["capability"]["exposes"][0]["port"] == 8085
    assert data["capability"]["consumes"][0]["baseUri"] == "https://shop.example"


def test_create_capability_refuses_a_target_that_is_not_a_url() -> None:
    done = CliRunner().invoke(
        app, ["create", "capability", "--name", "x", "--target", "ftp:/x", "--port", "1", "-o", "-"]
    )
    assert done.exit_code == 2
    assert "target URI: 'ftp:/x' is not an http(s) URL" in done.output


def test_a_created_capability_validates_and_forwards_every_path(tmp_path: Path) -> None:
    recorder = Recorder()
    out = tmp_path / "gw.naftiko.yaml"
    with serve_app(echo_app(recorder)) as upstream:
        args = ["--name", "Gateway", "--target", upstream, "--port", "0", "-o", str(out)]
        done = CliRunner().invoke(app, ["create", "capability", *args])
        assert done.exit_code == 0, done.output
        assert CliRunner().invoke(app, ["validate", str(out)]).exit_code == 0
        with naftiko_thread(out) as running:
            answer = httpx.get(running.url("gateway") + "/orders/7", params={"a": "1"})
    assert answer.status_code == 200
    (sent,) = recorder.requests
    assert (sent.method, sent.path, sent.query) == ("GET", "/orders/7", "a=1")
