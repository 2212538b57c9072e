"""`naftiko run --workers 2`: one set of ports served by two processes; the control port's
metrics are the sum over both, `/status` lists them, and a worker that dies is replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx2 as httpx

from tests.support.process import naftiko_run, until
from tests.support.specs import ORDERS_REST, write_capability

CONTROL = {
    "type": "control",
    "port": 0,
    "namespace": "control",
    "management": {"health": True, "info": True},
}


def _get(url: str) -> httpx.Response:
    # A connection of its own each time: a killed worker resets the connections it held.
    return httpx.get(url, timeout=10)


def _served(metrics: str) -> int:
    prefix = 'naftiko_request_total{naftiko_adapter_type="rest",naftiko_operation_id="/orders GET"'
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(prefix)
    )


def test_two_workers_share_the_ports_sum_their_metrics_and_a_killed_one_is_replaced(
    tmp_path: Path,
) -> None:
    spec = write_capability(tmp_path, CONTROL, ORDERS_REST)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with naftiko_run(spec, args=("--workers", "2"), env=env, adapters=2) as running:
        control, rest = running.url("control"), running.url("orders-rest")
        workers = until(
            lambda: (
                len(_get(control + "/status").json()["workers"]) == 2
                and _get(control + "/status").json()["workers"]
            )
        )
        pids = {w["pid"] for w in workers}
        assert len(pids) == 2 and running.process.pid not in pids
        # Fresh connections, so that the kernel spreads them over both workers.
        for _ in range(40):
            assert httpx.get(rest + "/orders", timeout=10).json() == {"count": 2}
        # Each worker's series live in the shared folder (prometheus_client's multi-process
        # mode): whichever worker answers, the figure is the sum over both.
        until(lambda: _served(_get(control + "/metrics").text) == 40)
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = until(
            lambda: {w["pid"] for w in _get(control + "/status").json()["workers"]} - pids
        )
        assert len(replaced) == 1
        assert len(_get(control + "/status").json()["workers"]) == 2
        assert httpx.get(rest + "/orders", timeout=10).status_code == 200
        # The dead worker's counters still count: counters never go down.
        until(lambda: _served(_get(control + "/metrics").text) == 41)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(15) == 0
    logs = running.logs()
    assert f"worker {victim} ended (signal SIGKILL); starting another" in logs
    assert "Traceback" not in logs
