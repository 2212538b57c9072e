"""OpenTelemetry traces (SEMANTICS §8.4): what a real OTLP/HTTP collector on loopback
receives for the seed and for the tutorial's step-11 orchestration, the context that comes
in and goes out upstream, sampling, and the recent traces on the control port."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support.authserver import SUBJECT, serve_auth_server
from tests.support.groq import TOKEN
from tests.support.inprocess import Gateway, serving
from tests.support.microcks import (
    LEGACY_OPENAPI,
    REGISTRY_OPENAPI,
    point_at_mock,
    serve_openapi_mock,
)
from tests.support.otlp import Receiver, otlp_receiver
from tests.support.servers import Recorder
from tests.support.shared import CONFORMANCE_DIR
from tests.support.specs import seed_for
from tests.support.yamlio import dump_yaml, load_yaml

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
BATCH = "/v1/openai/v1/batches/b1"
SERVER, CLIENT, INTERNAL = 2, 3, 1  # opentelemetry.proto Span.SpanKind
ERROR = 2  # Status.StatusCode


def _control(observability: dict[str, Any]) -> dict[str, Any]:
    return {"type": "control", "port": 0, "observability": observability}


def _seed(tmp: Path, upstream: str, observability: dict[str, Any] | None) -> Path:
    path = seed_for(upstream, tmp)
    if observability is not None:
        data = load_yaml(path.read_text())
        data["capability"]["exposes"].append(_control(observability))
        path.write_text(dump_yaml(data, sort_keys=False))
    return path


def _observability(endpoint: str, **traces: Any) -> dict[str, Any]:
    return {"enabled": True, "traces": traces, "exporters": {"otlp": {"endpoint": endpoint}}}


def _flushed(gateway: Gateway) -> None:
    assert gateway.runtime.telemetry.flush()


def _headers(recorder: Recorder) -> dict[str, str]:
    (request,) = recorder.requests
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.fixture
def groq(groq_upstream: tuple[str, Recorder]) -> tuple[str, Recorder]:
    groq_upstream[1].requests.clear()
    return groq_upstream


@pytest.fixture
def collector() -> Any:
    with otlp_receiver() as receiver:
        yield receiver


async def test_a_rest_call_continues_the_callers_trace_and_sends_its_client_span_upstream(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    spec = _seed(tmp_path, groq[0], _observability(collector.url))
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            response = await client.get(BATCH, headers={"traceparent": TRACEPARENT})
        _flushed(gateway)
    assert response.status_code == 200
    (server,) = collector.named("rest.request")
    (call,) = collector.named("http.client.GET")
    assert (server.trace_id, server.parent_id, server.kind) == (CALLER_TRACE, CALLER_SPAN, SERVER)
    assert (call.trace_id, call.parent_id, call.kind) == (CALLER_TRACE, server.span_id, CLIENT)
    assert _headers(groq[1])["traceparent"] == f"00-{CALLER_TRACE}-{call.span_id}-01"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.route"] == "/v1/openai/v1/batches/{batch-id}"
    assert call.attributes["url.template"] == "/openai/v1/batches/{batch_id}"
    assert call.attributes["http.response.status_code"] == 200
    assert server.resource["service.name"] == "naftiko-GroqCloud API — Batch"
    assert collector.paths == ["/v1/traces"]


async def test_an_mcp_tool_call_is_a_tool_span_under_the_request_span(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    spec = _seed(tmp_path, groq[0], _observability(collector.url))
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "retrieves-batch", "arguments": {"batch_id": "missing"}},
    }
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-mcp") as client:
            accept = {"Accept": "application/json, text/event-stream"}
            response = await client.post("/mcp", json=call, headers=accept)
        _flushed(gateway)
    assert response.status_code == 200
    (server,) = collector.named("mcp.request")
    (tool,) = collector.named("mcp.tool")
    (upstream,) = collector.named("http.client.GET")
    assert tool.parent_id == server.span_id
    assert upstream.parent_id == tool.span_id
    assert tool.attributes["gen_ai.tool.name"] == "retrieves-batch"
    # The upstream's 404 is an error of the client span and of the tool call.
    assert (upstream.status, upstream.attributes["http.response.status_code"]) == (ERROR, 404)
    assert tool.status == ERROR


async def test_the_step_11_orchestration_is_a_span_per_step_each_with_its_upstream_call(
    tmp_path: Path, collector: Receiver
) -> None:
    folder = tmp_path / "tutorial"
    shutil.copytree(CONFORMANCE_DIR / "tutorial", folder)
    spec = folder / "step-11-shipyard-fleet-manifest.yml"
    async with serve_openapi_mock(REGISTRY_OPENAPI, LEGACY_OPENAPI) as mock:
        data = load_yaml(spec.read_text())
        for imported in (folder / "shared").glob("*.y*ml"):
            shared = load_yaml(imported.read_text())
            point_at_mock(shared, mock)
            imported.write_text(dump_yaml(shared, sort_keys=False))
        data["capability"]["exposes"].append(_control(_observability(collector.url)))
        spec.write_text(dump_yaml(data, sort_keys=False))
        async with serving(spec) as gateway:
            async with gateway.client("shipyard-api") as client:
                response = await client.get("/voyages/VOY-2026-042/manifest")
            _flushed(gateway)
    assert response.status_code == 200, response.text
    (root,) = collector.named("rest.request")
    steps = sorted(
        (s for s in collector.spans if s.name.startswith("step.")),
        key=lambda s: collector.spans.index(s),
    )
    assert {s.parent_id for s in steps} == {root.span_id}
    by_name = {s.attributes["naftiko.step.name"]: s for s in steps}
    assert {name: s.name for name, s in by_name.items()} == {
        "get-voyage": "step.call",
        "list-ships": "step.call",
        "resolve-ship": "step.lookup",
        "list-crew": "step.call",
        "resolve-crew": "step.lookup",
        "list-cargo": "step.call",
        "resolve-cargo": "step.lookup",
    }
    calls = collector.named("http.client.GET")
    assert sorted(c.attributes["naftiko.operation"] for c in calls) == [
        "get-voyage",
        "list-cargo",
        "list-crew",
        "list-ships",
    ]
    parents = {c.attributes["naftiko.operation"]: c.parent_id for c in calls}
    assert parents == {n: by_name[n].span_id for n in parents}
    assert {s.trace_id for s in collector.spans} == {root.trace_id}
    traced = [r.headers.get("traceparent", "") for r in mock.requests]
    assert [t.split("-")[2] for t in traced] == [c.span_id for c in calls]


async def test_sampling_zero_exports_nothing_but_still_propagates_an_unsampled_context(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    spec = _seed(tmp_path, groq[0], _observability(collector.url, sampling=0.0))
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            response = await client.get(BATCH)
        _flushed(gateway)
    assert response.status_code == 200
    assert collector.spans == []
    flags = int(_headers(groq[1])["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # not sampled


async def test_sampling_one_exports_every_request(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    spec = _seed(tmp_path, groq[0], _observability(collector.url, sampling=1.0))
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            for _ in range(3):
                await client.get(BATCH)
        _flushed(gateway)
    assert len({s.trace_id for s in collector.named("rest.request")}) == 3
    sent = [int(h["traceparent"].rsplit("-", 1)[1], 16) for h in _all_headers(groq[1])]
    assert [flags & 1 for flags in sent] == [1, 1, 1]


def _all_headers(recorder: Recorder) -> list[dict[str, str]]:
    return [{k.lower(): v for k, v in r.headers.items()} for r in recorder.requests]


async def test_b3_propagation_continues_a_b3_caller_and_sends_b3_upstream(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    spec = _seed(tmp_path, groq[0], _observability(collector.url, propagation="b3"))
    b3 = {"X-B3-TraceId": CALLER_TRACE, "X-B3-SpanId": CALLER_SPAN, "X-B3-Sampled": "1"}
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            await client.get(BATCH, headers=b3)
        _flushed(gateway)
    (call,) = collector.named("http.client.GET")
    sent = _headers(groq[1])
    assert (sent["x-b3-traceid"], sent["x-b3-spanid"]) == (CALLER_TRACE, call.span_id)
    assert "traceparent" not in sent


async def test_an_unreachable_collector_does_not_fail_requests_and_is_logged_once(
    tmp_path: Path,
    groq: tuple[str, Recorder],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK's own variable bounds each export attempt (and so this test's flushes).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0.5")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    spec = _seed(tmp_path, groq[0], _observability(f"http://127.0.0.1:{port}"))
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            statuses = [(await client.get(BATCH)).status_code for _ in range(5)]
        gateway.runtime.telemetry.flush()
        gateway.runtime.telemetry.flush()
    assert statuses == [200] * 5
    failures = [r for r in caplog.records if r.getMessage().startswith("trace export failed")]
    assert len(failures) == 1


async def test_the_control_port_lists_recent_traces_and_serves_a_span_tree(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = _seed(tmp_path, groq[0], {"traces": {"local": {"buffer-size": 10}}})
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        async with gateway.client("groq-batch-rest") as client:
            await client.get(BATCH, headers={"traceparent": TRACEPARENT})
        async with gateway.client("control") as control:
            listed = (await control.get("/traces")).json()
            tree = await control.get(f"/traces/{CALLER_TRACE}")
            unknown = await control.get("/traces/" + "0" * 32)
    (summary,) = listed["traces"]
    assert (listed["bufferSize"], listed["bufferUsed"]) == (10, 1)
    assert {k: summary[k] for k in ("traceId", "operation", "status", "spanCount")} == {
        "traceId": CALLER_TRACE,
        "operation": "rest.request",
        "status": "OK",
        "spanCount": 2,
    }
    spans = tree.json()["spans"]
    assert [(s["name"], s["kind"]) for s in spans] == [
        ("rest.request", "SERVER"),
        ("http.client.GET", "CLIENT"),
    ]
    assert spans[1]["parentSpanId"] == spans[0]["spanId"]
    assert unknown.status_code == 404


async def test_observability_disabled_builds_no_tracer_and_forwards_only_the_callers_context(
    tmp_path: Path, groq: tuple[str, Recorder]
) -> None:
    spec = _seed(tmp_path, groq[0], {"enabled": False})
    async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
        assert gateway.runtime.telemetry is None
        async with gateway.client("groq-batch-rest") as client:
            await client.get(BATCH, headers={"traceparent": TRACEPARENT})
        async with gateway.client("control") as control:
            traces = await control.get("/traces")
    assert _headers(groq[1])["traceparent"] == TRACEPARENT
    assert traces.status_code == 404


@pytest.mark.parametrize(
    "invalid",
    [
        f"ff-{CALLER_TRACE}-{CALLER_SPAN}-01",  # version ff is forbidden
        f"00-{'0' * 32}-{CALLER_SPAN}-01",  # an all-zero trace id
        f"00-{CALLER_TRACE}-{'0' * 16}-01",  # an all-zero parent id
    ],
)
async def test_an_invalid_traceparent_is_not_forwarded(
    tmp_path: Path, groq: tuple[str, Recorder], invalid: str
) -> None:
    # W3C Trace Context §3.2: a vendor ignores such a header (and starts a trace of its own).
    spec = _seed(tmp_path, groq[0], {"enabled": False})
    async with (
        serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway,
        gateway.client("groq-batch-rest") as client,
    ):
        await client.get(BATCH, headers={"traceparent": invalid})
    assert "traceparent" not in _headers(groq[1])


async def test_the_callers_validated_claims_are_attributes_of_its_server_span(
    tmp_path: Path, groq: tuple[str, Recorder], collector: Receiver
) -> None:
    with serve_auth_server() as authority:
        authority.rotate()
        spec = _seed(tmp_path, groq[0], _observability(collector.url))
        data = load_yaml(spec.read_text())
        data["capability"]["exposes"][0]["authentication"] = {
            "type": "oauth2",
            "authorizationServerUri": authority.issuer,
            "resource": "https://api.example/orders",
            "scopes": ["orders:read"],
        }
        spec.write_text(dump_yaml(data, sort_keys=False))
        token = authority.mint()
        async with serving(spec, env={"GROQ_API_KEY": TOKEN}) as gateway:
            async with gateway.client("groq-batch-rest") as client:
                response = await client.get(BATCH, headers={"Authorization": f"Bearer {token}"})
            _flushed(gateway)
    assert response.status_code == 200
    (server,) = collector.named("rest.request")
    assert server.attributes["enduser.id"] == SUBJECT
    assert server.attributes["naftiko.client_id"] == "test-client"
    assert server.attributes["enduser.scope"] == "orders:read"
