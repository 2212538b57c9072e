"""The request head as the edge needs it, read in one pass over the headers.

Everything the edge decides from the headers before it routes — exactly one `Host`, the
`Origin`, the trace context (`X-Request-Id`, `traceparent`), the size of the head against
`--max-header-bytes`, a declared `Content-Length` against `--max-body`, and whether a body
follows — is read by one loop, here alone: the adapters take the body the edge read
(`limits.REQUEST_BODY`) instead of asking the headers again.
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope

from naftiko.engine.tracing import REQUEST_ID, TRACEPARENT, Trace, new_id


class Head(NamedTuple):
    hosts: int  # how many `Host` headers
    host: bytes | None  # the last one
    origin: bytes | None  # the last `Origin`
    trace: Trace
    size: int  # bytes of the request target and headers (name, value, ": " and CRLF each)
    declared: int | None  # the first `Content-Length`, when it is a number
    body: bool  # a body follows (the first of `Content-Length` != 0 and `Transfer-Encoding`)


def read_head(scope: Scope) -> Head:
    hosts = 0
    host = origin = request_id = traceparent = None
    size = len(scope.get("raw_path") or b"") + len(scope["query_string"])
    declared = None
    length_seen = False
    body: bool | None = None  # decided by the first length or transfer-encoding header
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
        if name == b"host":
            hosts += 1
            host = value
        elif name == b"origin":
            origin = value
        elif name == b"x-request-id":
            if REQUEST_ID.fullmatch(value):
                request_id = value.decode("ascii")
        elif name == b"traceparent":
            if TRACEPARENT.fullmatch(value.strip()):
                traceparent = value.strip().decode("ascii")
        elif name == b"content-length":
            if not length_seen:
                length_seen = True
                declared = int(value) if value.isdigit() else None
            if body is None:
                body = value != b"0"
        elif name == b"transfer-encoding" and body is None:
            body = True
    trace = Trace(request_id or new_id(), traceparent)
    return Head(hosts, host, origin, trace, size, declared, bool(body))


def raw_path(scope: Scope) -> str:
    """The request target's path as sent (percent-escapes kept), for matching routes."""
    raw = scope.get("raw_path") or scope["path"].encode()
    return str(raw.decode("latin-1"))
