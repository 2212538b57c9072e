"""The Prometheus metrics of SEMANTICS §8.3: the reference engine's names and labels, the
upstream calls and steps behind a request, and the sum over worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from naftiko.engine.metrics import MAX_SERVERS, OTHER_SERVER, Metrics
from tests.support.groq import TOKEN
from tests.support.inprocess import mcp_call, serving
from tests.support.servers import Recorder
from tests.support.specs import seed_for

BATCH = "/v1/openai/v1/batches/b1"


def _series(text: str, name: str) -> dict[str, float]:
    """`{labels}` (in a fixed order: exposition order carries no meaning) → value for every
    sample of metric `name`."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) :].rpartition(" ")
            pairs = labels.strip("{}").split('",')
            found["{" + '",'.join(sorted(p.rstrip('"') for p in pairs)) + '"}'] = float(value)
    return found


async def test_a_rest_call_counts_the_request_and_its_upstream_call(
    tmp_path: Path, groq_upstream: tuple[str, Recorder]
) -> None:
    spec = seed_for(groq_upstream[0], tmp_path)
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            await client.get(BATCH)
            await client.get("/v1/openai/v1/batches/boom")
        text = gateway.runtime.metrics.prometheus()
    operation = "/v1/openai/v1/batches/{batch-id} GET"
    requests = _series(text, "naftiko_request_total")
    assert requests == {
        f'{{naftiko_adapter_type="rest",naftiko_operation_id="{operation}",status="200"}}': 1.0,
        f'{{naftiko_adapter_type="rest",naftiko_operation_id="{operation}",status="500"}}': 1.0,
    }
    assert _series(text, "naftiko_request_errors") == {
        f'{{error_type="500",naftiko_adapter_type="rest",naftiko_operation_id="{operation}"}}': 1.0
    }
    upstream = _series(text, "naftiko_http_client_total")
    assert sorted(upstream.values()) == [1.0, 1.0]
    assert any('http_response_status_code="500"' in labels for labels in upstream)
    assert all('server_address="127.0.0.1"' in labels for labels in upstream)
    assert 'naftiko_build_info{python="' in text
    assert 'naftiko_capability_active{naftiko_capability="GroqCloud API' in text
    assert _series(text, "naftiko_requests_in_flight") == {'{naftiko_adapter_type="rest"}': 0.0}


async def test_an_mcp_tool_call_is_counted_once_in_each_request_metric(
    tmp_path: Path, groq_upstream: tuple[str, Recorder], recorder: Recorder
) -> None:
    spec = seed_for(groq_upstream[0], tmp_path)
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-mcp") as client:
            accept = "application/json, text/event-stream"
            result = await mcp_call(client, "retrieves-batch", {"batch_id": "b1"}, Accept=accept)
        text = gateway.runtime.metrics.prometheus()
    assert result.get("isError") is not True
    labels = '{naftiko_adapter_type="mcp",naftiko_operation_id="retrieves-batch",status="OK"}'
    assert _series(text, "naftiko_request_total") == {labels: 1.0}
    assert _series(text, "naftiko_request_duration_seconds_count") == {labels: 1.0}
    assert _series(text, "naftiko_request_errors") == {}
    assert list(_series(text, "naftiko_http_client_total").values()) == [1.0]
    assert [(r.method, r.path) for r in recorder.requests] == [("GET", "/openai/v1/batches/b1")]


_WORKER = """
import sys
from naftiko.engine.metrics import Metrics
metrics = Metrics()
for _ in range(int(sys.argv[1])):
    metrics.observe("rest", "/orders GET", "200", 0.01)
if sys.argv[2] == "show":
    print(metrics.prometheus())
"""


def test_with_a_multiprocess_directory_metrics_are_the_sum_over_processes(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(count: int, show: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, str(count), show],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    worker(2, "no")
    worker(3, "no")
    text = worker(0, "show")
    series = '{naftiko_adapter_type="rest",naftiko_operation_id="/orders GET",status="200"}'
    assert _series(text, "naftiko_request_total") == {series: 5.0}


@pytest.fixture(autouse=True)
def _no_multiprocess_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process tests keep their own registry.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_hosts_a_caller_fills_in_cannot_grow_the_upstream_series_without_bound() -> None:
    # A host template (`https://{box}.example.com`) takes any DNS label a caller sends.
    metrics = Metrics()
    for n in range(MAX_SERVERS + 50):
        metrics.upstream("GET", f"box{n}.example.com", 200, 0.01)
        metrics.upstream("GET", f"box{n}.example.com", None, 0.01)
    upstream = _series(metrics.prometheus(), "naftiko_http_client_total")
    servers = {labels.split('server_address="')[1].split('"')[0] for labels in upstream}
    assert len(servers) == MAX_SERVERS + 1
    other = [v for k, v in upstream.items() if f'server_address="{OTHER_SERVER}"' in k]
    assert sorted(other) == [50.0, 50.0]  # the answered calls, and those that failed
    first = [v for k, v in upstream.items() if 'server_address="box0.example.com"' in k]
    assert first == [1.0, 1.0]
