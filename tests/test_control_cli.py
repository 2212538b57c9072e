"""`naftiko health|status|metrics|traces` against a running control port (SEMANTICS §9), and
the trace ids in the JSON log lines of the same traced runtime (served in a thread).

The commands run through CliRunner (the same click app, in-process, as test_cli_validate
does); one runs as the installed console script, for what only a process shows (exit code,
one line on stderr)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner, Result

from naftiko.cli import app
from naftiko.settings import Settings
from tests.support.groq import TOKEN
from tests.support.process import NAFTIKO
from tests.support.servers import Recorder
from tests.support.specs import seed_for
from tests.support.threaded import Gateway, naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def gateway(
    groq_upstream: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    path = seed_for(groq_upstream[0], tmp_path_factory.mktemp("cli"))
    data = load_yaml(path.read_text())
    control = {"type": "control", "port": 0, "management": {"info": True}, "observability": {}}
    data["capability"]["exposes"].append(control)
    path.write_text(dump_yaml(data, sort_keys=False))
    settings = Settings(log_format="json")
    # The served spec's listeners in a thread: the subjects are the control commands' processes.
    with naftiko_thread(path, env={"GROQ_API_KEY": TOKEN}, settings=settings) as running:
        yield running


def _cli(gateway: Gateway, *args: str) -> Result:
    port = gateway.url("control").rsplit(":", 1)[1]
    env = {"NAFTIKO_CONTROL_ADDRESS": "127.0.0.1", "NAFTIKO_CONTROL_PORT": port}
    done = CliRunner().invoke(app, list(args), env=env)
    # An exit code, never a fault of ours (the console script would print it as one).
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done


def test_health_reports_liveness_and_readiness_and_exits_0(gateway: Gateway) -> None:
    done = _cli(gateway, "health")
    assert (done.exit_code, done.stdout) == (
        0,
        "Liveness: UP\nReadiness: UP (2/2 adapters started)\n",
    )


def test_metrics_are_filtered_by_a_regex(gateway: Gateway) -> None:
    done = _cli(gateway, "metrics", "--filter", "^naftiko_uptime")
    assert done.exit_code == 0
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["naftiko_uptime_seconds"]


def test_traces_lists_a_served_request_and_shows_its_tree(gateway: Gateway) -> None:
    url = gateway.url("groq-batch-rest") + "/v1/openai/v1/batches/b1"
    assert httpx.get(url, headers={"traceparent": TRACEPARENT}).status_code == 200
    listed = _cli(gateway, "traces")
    tree = _cli(gateway, "traces", TRACEPARENT[3:35])
    missing = _cli(gateway, "traces", "0" * 32)
    assert listed.exit_code == 0 and TRACEPARENT[3:35] in listed.stdout
    assert tree.exit_code == 0
    assert [line.split()[0] for line in tree.stdout.splitlines()[1:]] == [
        "rest.request",
        "http.client.GET",
    ]
    assert tree.stdout.splitlines()[2].startswith("    http.client.GET")
    assert missing.exit_code == 1


def test_status_answers_with_otel_active(gateway: Gateway) -> None:
    done = _cli(gateway, "status")
    assert done.exit_code == 0
    assert '"status": "active"' in done.stdout


def test_an_unreachable_control_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {"NAFTIKO_CONTROL_ADDRESS": "127.0.0.1", "NAFTIKO_CONTROL_PORT": "9", "PATH": ""}
    done = subprocess.run(
        [NAFTIKO, "health"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30
    )
    assert done.returncode == 1
    assert "no control port answers at 127.0.0.1:9" in done.stderr


def _logged(gateway: Gateway, wanted: str) -> dict[str, object]:
    """The first JSON log line whose message contains `wanted` (stderr is read by another
    thread: waited for, bounded)."""
    deadline = time.monotonic() + 10
    while True:
        for line in gateway.logs().splitlines():
            if line.startswith("{") and wanted in line:
                entry: dict[str, object] = json.loads(line)
                return entry
        assert time.monotonic() < deadline, f"{wanted!r} never logged:\n{gateway.logs()}"
        time.sleep(0.02)


def test_a_json_access_line_carries_the_request_and_trace_ids(gateway: Gateway) -> None:
    url = gateway.url("groq-batch-rest") + "/v1/openai/v1/batches/b7"
    httpx.get(url, headers={"traceparent": TRACEPARENT, "X-Request-Id": "req-json"})
    entry = _logged(gateway, "batches/b7 200")
    assert (entry["request_id"], entry["trace_id"]) == ("req-json", TRACEPARENT[3:35])


def test_an_upstream_failure_is_one_warning_with_operation_reason_and_trace_id(
    gateway: Gateway,
) -> None:
    url = gateway.url("groq-batch-rest") + "/v1/openai/v1/batches/reset"
    assert httpx.get(url, headers={"traceparent": TRACEPARENT}).status_code == 502
    entry = _logged(gateway, "operation retrievebatch failed")
    assert entry["level"] == "warning"
    assert str(entry["message"]).startswith(
        "upstream groq-batch operation retrievebatch failed: upstream 'groq-batch' "
    )
    assert entry["trace_id"] == TRACEPARENT[3:35]
    said = [line for line in gateway.logs().splitlines() if "retrievebatch failed" in line]
    assert len(said) == 1
