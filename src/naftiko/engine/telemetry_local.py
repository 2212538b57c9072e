"""The recent completed traces the control port serves (`GET /traces`, SEMANTICS §8.2):
a span processor that groups ended spans by trace and keeps the last `size` traces whose
local root span has ended."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

# Spans of traces whose root has not ended yet; bounded, so a root that never ends (a
# cancelled request) cannot grow memory without limit.
_MAX_PENDING = 10_000


class Recent(SpanProcessor):
    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        # Kept as the SDK's spans; turned into JSON only when asked for (off the hot path).
        self._done: OrderedDict[str, tuple[ReadableSpan, list[ReadableSpan]]] = OrderedDict()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        with self._lock:
            spans = self._pending.get(context.trace_id)
            if spans is None:
                spans = self._pending[context.trace_id] = []
                if len(self._pending) > _MAX_PENDING:
                    self._pending.popitem(last=False)
            spans.append(span)
            if span.parent is not None and not span.parent.is_remote:
                return
            del self._pending[context.trace_id]
            trace_id = format_trace_id(context.trace_id)
            self._done[trace_id] = (span, spans)
            self._done.move_to_end(trace_id)
            while len(self._done) > self.size:
                self._done.popitem(last=False)

    def traces(self, operation: str | None = None, status: str | None = None) -> dict[str, Any]:
        with self._lock:
            found = [_trace(root, spans) for root, spans in reversed(self._done.values())]
        summaries = [
            {k: v for k, v in t.items() if k != "spans"}
            for t in found
            if (operation is None or t["operation"] == operation)
            and (status is None or t["status"] == status.upper())
        ]
        return {"traces": summaries, "bufferSize": self.size, "bufferUsed": len(found)}

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._done.get(trace_id.lower())
        return _trace(*found) if found is not None else None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _trace(root: ReadableSpan, spans: list[ReadableSpan]) -> dict[str, Any]:
    assert root.context is not None
    error = any(s.status.status_code is StatusCode.ERROR for s in spans)
    return {
        "traceId": format_trace_id(root.context.trace_id),
        "operation": root.name,
        "durationMs": _ms(root),
        "status": "ERROR" if error else "OK",
        "spanCount": len(spans),
        "timestamp": (root.start_time or 0) // 1_000_000,
        "spans": [_span(s) for s in sorted(spans, key=lambda s: s.start_time or 0)],
    }


def _span(span: ReadableSpan) -> dict[str, Any]:
    assert span.context is not None
    entry: dict[str, Any] = {"spanId": format_span_id(span.context.span_id)}
    if span.parent is not None:
        entry["parentSpanId"] = format_span_id(span.parent.span_id)
    entry.update(
        name=span.name,
        kind=span.kind.name,
        durationMs=_ms(span),
        status="ERROR" if span.status.status_code is StatusCode.ERROR else "OK",
        attributes=dict(span.attributes or {}),
    )
    return entry


def _ms(span: ReadableSpan) -> float:
    return round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 3)
