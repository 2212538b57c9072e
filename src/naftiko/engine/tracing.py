"""The request id and trace context of the inbound request being served. Set by the
adapters' HTTP edge (and, when tracing is on, by the tracing edge with our own server span's
trace id), read where the upstream request leaves and where log lines are written; a context
variable, so concurrent requests never see each other's."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import NamedTuple, TypeVar


class Trace(NamedTuple):
    """Immutable; a tuple, made once per request (a frozen dataclass costs more to make)."""

    request_id: str
    # The caller's W3C `traceparent`, forwarded as is when we do not trace ourselves.
    traceparent: str | None = None

    def headers(self) -> dict[str, str]:
        sent = {"X-Request-Id": self.request_id}
        if self.traceparent is not None:
            sent["traceparent"] = self.traceparent
        return sent


_T = TypeVar("_T")
_current: ContextVar[Trace | None] = ContextVar("naftiko_trace", default=None)
# Our own trace id while a traced request is served (tracing on: the SDK injects its context).
_own: ContextVar[str | None] = ContextVar("naftiko_own_trace", default=None)


def own_trace(trace_id: str) -> contextlib.AbstractContextManager[None]:
    return _holding(_own, trace_id)


def trace_id() -> str | None:
    """The trace id of the request being served: ours when tracing, else the caller's."""
    own = _own.get()
    if own is not None:
        return own
    trace = _current.get()
    if trace is None or trace.traceparent is None:
        return None
    return trace.traceparent[3:35]


def tracing(trace: Trace) -> contextlib.AbstractContextManager[None]:
    return _holding(_current, trace)


@contextlib.contextmanager
def _holding(var: ContextVar[_T], value: _T) -> Iterator[None]:
    """`var` is `value` for the duration of the block."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


# The edge's hot path (`tracing` without its context manager: `enter`, then `leave` with the
# token) and the readers: the context variable's own methods, so no Python call wraps them.
enter = _current.set
leave = _current.reset
current = _current.get


class TraceIds(logging.Filter):
    """Adds `trace_id` (and `request_id`) to every record written while a request is served,
    for the text and JSON log formats alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = _current.get()
        if trace is not None:
            record.request_id = trace.request_id
        found = trace_id()
        if found is not None:
            record.trace_id = found
        return True


# What a request may arrive with (read by the adapters' edge, `edge_head`): a caller's id is
# echoed in headers and logs, so printable ASCII, bounded, or we mint our own (`new_id`).
REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,200}")
# W3C Trace Context §3.2: version ff and all-zero ids are invalid, so ignored.
TRACEPARENT = re.compile(
    rb"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)


class _RandomPool:
    """Random bytes drawn from `os.urandom` a page at a time (one system call per 256 ids,
    not one per request); a forked worker starts with a pool of its own."""

    _SIZE = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def take16(self) -> bytes:
        at = self._at
        if at + 16 > len(self._pool):
            self._pool, at = os.urandom(self._SIZE), 0
        self._at = at + 16
        return self._pool[at : at + 16]

    def forget(self) -> None:
        self._pool, self._at = b"", 0


_RANDOM = _RandomPool()
os.register_at_fork(after_in_child=_RANDOM.forget)


def new_id() -> str:
    """`uuid.uuid4().hex`, the same 122 random bits and version bits, without the UUID object."""
    raw = bytearray(_RANDOM.take16())
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def correlate(headers: dict[str, str], context: bool = True) -> None:
    """Correlation travels on to an upstream: the caller's (or our) request id, and, when we
    do not trace ourselves (`context`), the caller's trace context as it came. A header the
    request already names (in any case) is left as it is."""
    trace = current()
    if trace is None:
        return
    taken = {name.lower() for name in headers} if headers else ()
    if "x-request-id" not in taken:
        headers["X-Request-Id"] = trace.request_id
    if context and trace.traceparent is not None and "traceparent" not in taken:
        headers["traceparent"] = trace.traceparent
