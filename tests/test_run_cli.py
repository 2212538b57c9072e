"""`naftiko run` startup and shutdown. What only the process shows (exit codes, one line on
stderr and no traceback, SIGTERM, the flags reaching the runtime) runs `naftiko run`; why a
start is refused, and what reaches the upstream, is checked on the runtime the CLI builds
(`runtime.build`, then `listeners.bind` as `serve` does), in-process: any `NaftikoError` is
what the console script prints as its one line (`naftiko: ...`), exit code 1."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from naftiko.cli import app
from naftiko.errors import NaftikoError
from naftiko.listeners import bind
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.groq import TOKEN
from tests.support.process import NAFTIKO
from tests.support.servers import Recorder
from tests.support.specs import seed_for
from tests.support.threaded import naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NAFTIKO, "run", *args], capture_output=True, text=True, timeout=30, env=env or {}
    )


def test_a_missing_variable_stops_startup_naming_it_and_the_spec_line(tmp_path: Path) -> None:
    spec = seed_for("http://127.0.0.1:9", tmp_path)
    done = _run(str(spec), env={"PATH": "/usr/bin"})
    assert done.returncode == 1
    assert "GROQ_API_KEY" in done.stderr
    assert f"{spec}:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""  # no URL line: nothing was served


def test_a_metrics_folder_that_cannot_be_written_stops_startup_with_one_line(
    tmp_path: Path,
) -> None:
    spec = seed_for("http://127.0.0.1:9", tmp_path)
    missing = tmp_path / "missing"
    env = {"PATH": "/usr/bin", "GROQ_API_KEY": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(missing)}
    done = _run("--workers", "2", str(spec), env=env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"naftiko: PROMETHEUS_MULTIPROC_DIR={missing}: metrics cannot be written there "
        "(No such file or directory)\n"
    )


def test_an_invalid_spec_stops_startup_with_its_located_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("naftiko: 1.0.0-alpha2\ncapability:\n  exposes:\n  - type: rest\n    port: x\n")
    with pytest.raises(NaftikoError) as refused:
        build([spec], Settings(), {})
    assert f"{spec}:5:" in str(refused.value)


def test_a_port_in_use_stops_startup_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec = seed_for("http://127.0.0.1:9", tmp_path)
        data = load_yaml(spec.read_text())
        data["capability"]["exposes"][0]["port"] = port
        spec.write_text(dump_yaml(data))
        runtime = build([spec], Settings(), {"GROQ_API_KEY": TOKEN})
        # `serve` binds every port before it serves any; the first is the busy one.
        with pytest.raises(NaftikoError) as refused:
            bind(runtime.served[0], runtime)
    assert f"127.0.0.1:{port}" in str(refused.value)
    assert "already in use" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_variables_can_come_from_an_env_file(
    groq_upstream: tuple[str, Recorder], recorder: Recorder, tmp_path: Path
) -> None:
    spec = seed_for(groq_upstream[0], tmp_path)
    settings = Settings(env_file=_env_file(tmp_path))
    with naftiko_thread(spec, settings=settings) as running:
        url = running.url("groq-batch-rest") + "/v1/openai/v1/batches/b1"
        assert httpx.get(url).json()["id"] == "b1"
    assert recorder.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_sighup_sent_while_starting_becomes_a_reload_and_sigterm_stops_cleanly(
    groq_upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    # Its key from `--env-file` only: without the flag reaching the runtime, the start would
    # be refused (the missing-variable test above), not served.
    spec = seed_for(groq_upstream[0], tmp_path)
    # The signal must arrive during the start, whatever the machine's speed: blocked in this
    # thread while the child is made, it is held for the child from its first instruction
    # (a signal mask survives exec), as one sent during its start would be.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        process = subprocess.Popen(
            [NAFTIKO, "run", "--env-file", str(_env_file(tmp_path)), str(spec)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    process.send_signal(signal.SIGHUP)
    bound = threading.Timer(60, process.terminate)  # a bound, not a timing
    bound.start()
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "reloaded:" in line:
            break
    bound.cancel()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)
    assert process.returncode == 0, "".join(lines)
    assert any("reloaded:" in line for line in lines)


def _env_file(folder: Path) -> Path:
    env_file = folder / ".env"
    env_file.write_text(f"# credentials\nexport GROQ_API_KEY='{TOKEN}'\n")
    return env_file


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run().returncode == 2
    assert _run("--log-format", "xml", str(tmp_path / "x.yaml")).returncode == 2


def test_health_reports_a_served_spec_healthy_and_a_stopped_one_not(
    groq_upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    spec = seed_for(groq_upstream[0], tmp_path)
    # The served spec's listeners in a thread: the subject is the `naftiko health` command.
    with naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}) as running:
        served = load_yaml(spec.read_text())
        for adapter, url in zip(
            served["capability"]["exposes"], running.urls.values(), strict=True
        ):
            adapter["port"] = int(url.rsplit(":", 1)[1])
        spec.write_text(dump_yaml(served))
        healthy = CliRunner().invoke(app, ["health", str(spec)])
        # Its probes only connect and close. The listeners accept in order: once a request
        # on each port is answered, the probes' connections were taken in too, and the
        # listeners close them when the block stops them (not left to the garbage collector).
        for url in running.urls.values():
            httpx.get(url, timeout=10)
    assert (healthy.exit_code, healthy.stdout.split(":")[0]) == (0, "healthy")
    stopped = CliRunner().invoke(app, ["health", str(spec)])
    assert (stopped.exit_code, stopped.stdout.split(":")[0]) == (1, "unhealthy")
    assert isinstance(stopped.exception, SystemExit)  # an exit code, not a fault of ours


def test_a_missing_secrets_file_is_a_warning_for_validate_and_stops_run(tmp_path: Path) -> None:
    spec = seed_for("http://127.0.0.1:9", tmp_path)
    data = load_yaml(spec.read_text())
    data["binds"] = [
        {"namespace": "vault", "location": "file:///./secrets.yaml", "keys": {"GROQ_API_KEY": "k"}}
    ]
    spec.write_text(dump_yaml(data, sort_keys=False))
    checked = CliRunner().invoke(app, ["validate", "-v", str(spec)])
    assert checked.exit_code == 0
    assert "bind file file:///./secrets.yaml not found" in checked.stdout
    with pytest.raises(NaftikoError) as refused:
        build([spec], Settings(), {})
    assert f"{spec}:" in str(refused.value) and "secrets.yaml" in str(refused.value)
    assert "\n" not in str(refused.value)
