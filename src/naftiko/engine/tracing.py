"""The request id and W3C trace context of the inbound request being served, for the engine
to forward upstream. Set by the adapters' HTTP edge, read where the upstream request leaves;
a context variable, so concurrent requests never see each other's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Trace:
    request_id: str
    traceparent: str | None = None

    def headers(self) -> dict[str, str]:
        sent = {"X-Request-Id": self.request_id}
        if self.traceparent is not None:
            sent["traceparent"] = self.traceparent
        return sent


_current: ContextVar[Trace | None] = ContextVar("naftiko_trace", default=None)


@contextlib.contextmanager
def tracing(trace: Trace) -> Iterator[None]:
    token = _current.set(trace)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Trace | None:
    return _current.get()
