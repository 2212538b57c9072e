"""What the `observability` block (and the standard `OTEL_*` environment) decides about
tracing, read without importing the OpenTelemetry SDK: `None` means tracing is off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from naftiko.engine.scope import Scope
from naftiko.expressions import parse_template, to_text
from naftiko.model.exposes import Observability
from naftiko.spec.bindings import Bindings

DEFAULT_BUFFER = 100  # SEMANTICS §1.9


@dataclass(frozen=True)
class TracingConfig:
    service_name: str | None  # None: OTEL_SERVICE_NAME is set and wins
    sampling: float | None  # None: the SDK's OTEL_TRACES_SAMPLER (default: always on)
    propagation: str | None  # "w3c", "b3", or None: OTEL_PROPAGATORS as the SDK reads it
    endpoint: str | None  # OTLP/HTTP base URL from the spec, binds rendered
    env_endpoint: bool  # OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set
    buffer_size: int
    local: bool


def tracing_config(
    observability: Observability | None,
    bindings: Bindings,
    label: str,
    environ: Mapping[str, str],
) -> TracingConfig | None:
    if observability is None or not observability.enabled:
        return None
    traces = observability.traces
    local = (traces.local if traces else None) or {}
    otlp = (observability.exporters or {}).get("otlp")
    endpoint = otlp.get("endpoint") if isinstance(otlp, dict) else None
    if isinstance(endpoint, str):
        scope = Scope({}, bindings)
        endpoint = parse_template(endpoint).render(scope.get, encode=to_text) or None
    else:
        endpoint = None
    return TracingConfig(
        service_name=None if environ.get("OTEL_SERVICE_NAME") else f"naftiko-{label}",
        sampling=traces.sampling if traces else None,
        propagation=traces.propagation if traces else None,
        endpoint=endpoint,
        env_endpoint=bool(
            environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        ),
        buffer_size=int(local.get("buffer-size", DEFAULT_BUFFER)),
        local=bool(local.get("enabled", True)),
    )
