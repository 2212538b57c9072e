"""OpenTelemetry tracing from the control adapter's `observability` block (SEMANTICS §8.4).

Imported only when tracing is on, so `naftiko --version` and `validate` never load the SDK,
and a runtime without tracing creates no span object at all. One `Telemetry` per runtime:
its own `TracerProvider` (never the global one), a parent-based ratio sampler, OTLP over
HTTP/protobuf through a bounded batch queue on the SDK's own thread, and the recent traces
the control port serves (`telemetry_local.Recent`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import get_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from naftiko.engine.occasional import Occasional
from naftiko.engine.request import UpstreamRequest
from naftiko.engine.telemetry_config import TracingConfig
from naftiko.engine.telemetry_local import Recent
from naftiko.version import __version__

if TYPE_CHECKING:
    import requests

log = logging.getLogger("naftiko.telemetry")

# The SDK's defaults (OTEL_BSP_*) bound the queue and batch; a failing collector is retried
# by the exporter within its own timeout, on the export thread, never on a request's.
_EXPORTER_LOGGERS = "opentelemetry.exporter.otlp"
_REASON_CHARS = 200


class Telemetry:
    """The runtime's tracer, propagator and local trace buffer."""

    def __init__(self, config: TracingConfig) -> None:
        attributes: dict[str, Any] = {"service.version": __version__}
        if config.service_name is not None:
            attributes["service.name"] = config.service_name
        sampler: Sampler | None = None
        if config.sampling is not None:
            sampler = ParentBased(TraceIdRatioBased(min(max(config.sampling, 0.0), 1.0)))
        self.provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
        self.recent = Recent(config.buffer_size) if config.local else None
        if self.recent is not None:
            self.provider.add_span_processor(self.recent)
        exporter = _exporter(config)
        if exporter is not None:
            self.provider.add_span_processor(BatchSpanProcessor(_Logged(exporter)))
        self.tracer = self.provider.get_tracer("naftiko", __version__)
        self.propagator = _propagator(config.propagation)

    def shutdown(self) -> None:
        self.provider.shutdown()

    def flush(self) -> bool:
        return self.provider.force_flush()

    def extract(self, carrier: Mapping[str, str]) -> Context:
        return self.propagator.extract(carrier)

    def inject(self, headers: dict[str, str]) -> None:
        self.propagator.inject(headers)

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any],
        kind: SpanKind = SpanKind.INTERNAL,
        context: Context | None = None,
    ) -> Iterator[Span]:
        """A span made current for its duration; an exception escaping it is recorded on it
        as an error (and re-raised)."""
        with self.tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except Exception as exc:
                failed(span, exc)
                raise

    def failed_tool(self, span: Span) -> None:
        """A tool call whose result is an error (`isError`): an error span."""
        span.set_attribute("error.type", "tool_error")
        span.set_status(Status(StatusCode.ERROR))

    def step(self, kind: str, name: str) -> contextlib.AbstractContextManager[Span]:
        """One orchestration step (`step.call`, `step.lookup`, `step.script`)."""
        return self.span(f"step.{kind}", {"naftiko.step.name": name, "naftiko.step.type": kind})

    @contextlib.contextmanager
    def client(
        self, namespace: str, operation: str | None, template: str | None, request: UpstreamRequest
    ) -> Iterator[Callable[[int], None]]:
        """The CLIENT span of one upstream call, its context injected into the request's
        headers; the URL recorded is the spec's template, never the rendered URL (its query
        may carry a key)."""
        url = urlsplit(request.url)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "naftiko.namespace": namespace,
        }
        if template is not None:
            attributes["url.template"] = template
        if operation is not None:
            attributes["naftiko.operation"] = operation
        with self.span(f"http.client.{request.method}", attributes, SpanKind.CLIENT) as span:
            self.propagator.inject(request.headers)

            def answered(status: int) -> None:
                span.set_attribute("http.response.status_code", status)
                if request.attempts > 1:
                    span.set_attribute("http.request.resend_count", request.attempts - 1)
                if status >= 400:
                    # A client span fails on 4xx as well (semantic conventions for HTTP).
                    http_error(span, status)

            yield answered


def failed(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:300]))


def http_error(span: Span, status: int) -> None:
    span.set_attribute("error.type", str(status))
    span.set_status(Status(StatusCode.ERROR))


def ids(span: Span) -> tuple[str, str, bool]:
    """The span's trace id and span id in hex, and whether it is sampled."""
    context = span.get_span_context()
    return (
        trace.format_trace_id(context.trace_id),
        trace.format_span_id(context.span_id),
        context.trace_flags.sampled,
    )


def _propagator(propagation: str | None) -> TextMapPropagator:
    if propagation == "b3":
        from opentelemetry.propagators.b3 import B3MultiFormat

        return B3MultiFormat()
    if propagation == "w3c":
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    # No choice in the spec: OTEL_PROPAGATORS as the SDK reads it (tracecontext,baggage).
    return get_global_textmap()


def _exporter(config: TracingConfig) -> SpanExporter | None:
    if config.endpoint is None and not config.env_endpoint:
        return None  # no collector named anywhere: local traces only
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    session = _session()
    if config.endpoint is None:
        # OTEL_EXPORTER_OTLP_* as the SDK defines them.
        return OTLPSpanExporter(session=session)
    endpoint = config.endpoint.rstrip("/")
    # A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: the signal's path is appended.
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint, session=session)


def _session() -> requests.Session:
    """The exporter's HTTP session. The exporter looks only at a collector's status, reason
    and `Retry-After`, but `requests` would read the whole body first, with its timeout per
    read: a collector answering an endless body grew the process by gigabytes, and one
    trickling it held the export thread for ever. The body is now never read: the
    connection is closed once the head is in (one connection per export batch)."""
    import requests

    session = requests.Session()
    session.hooks["response"].append(_unread)
    return session


def _unread(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    response.close()


class _Logged(SpanExporter):
    """The exporter, with a failing collector said once per interval, not once per batch.
    The exporter's own lines (an ERROR per failed batch and a WARNING per retry, with the
    collector's reason phrase, which it may make 64 KiB long) are kept out of the log; the
    last of them, cut short, is part of the report."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self._failures = Occasional()
        self._last = ""
        self._quieted = [
            logger
            for name, logger in logging.Logger.manager.loggerDict.items()
            if name.startswith(_EXPORTER_LOGGERS) and isinstance(logger, logging.Logger)
        ]
        for logger in self._quieted:
            logger.addFilter(self._heard)

    def _heard(self, record: logging.LogRecord) -> bool:
        self._last = record.getMessage()[:_REASON_CHARS]
        return False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        if result is SpanExportResult.FAILURE:
            dropped = self._failures.count(len(spans))
            if dropped is not None:
                log.warning(
                    "trace export failed: %d span(s) dropped since the last report (%s)",
                    dropped,
                    self._last or "no reason given",
                )
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()
        for logger in self._quieted:
            logger.removeFilter(self._heard)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


__all__ = ["SpanKind", "Telemetry", "TracingConfig", "failed", "http_error", "ids"]
