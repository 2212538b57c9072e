"""What the HTTP adapters share: problem+json errors, adapter auth, access logging."""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from naftiko.engine import tracing
from naftiko.engine.exposed import Guard
from naftiko.errors import (
    InputError,
    MappingError,
    NaftikoError,
    NotFoundError,
    Overloaded,
    UnsupportedError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

access_log = logging.getLogger("naftiko.access")


class AccessLine:
    """Where the edge writes its access lines: `naftiko.access` at INFO. The runtime may give
    it `direct`, which writes an already formatted line as its handler would have (the same
    text, buffered the same way), and says False whenever logging is configured otherwise
    (another handler, a filter, a level): the line then goes through `logging` as usual."""

    def __init__(self) -> None:
        self.direct: Callable[[str], bool] | None = None

    def enabled(self) -> bool:
        """Whether a line would be written at all (a caller can then skip its arguments)."""
        return access_log.isEnabledFor(logging.INFO)

    def write(self, fmt: str, *args: object) -> None:
        direct = self.direct
        if direct is not None and access_log.isEnabledFor(logging.INFO) and direct(fmt % args):
            return
        access_log.info(fmt, *args)


ACCESS = AccessLine()
OPERATION = "naftiko.operation"  # key in scope["state"]: the operation's metric label
# The request's `scope["state"]`, for handlers a protocol SDK calls without the scope (MCP
# tools): what they note there, the edge reads when it accounts for the answer.
REQUEST_STATE: ContextVar[dict[str, Any] | None] = ContextVar("naftiko_state", default=None)
_COUNTED = "naftiko.counted"
log = logging.getLogger("naftiko")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(status: int, detail: str, **extra: Any) -> Response:
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
    }
    body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 405 and "allow" in extra:
        # A 405 MUST list what is allowed (RFC 9110 §15.5.6), in the header as well as the body.
        headers = {"Allow": ", ".join(extra["allow"])}
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def request_id() -> str:
    """The id of the request being served (see http_edge), for access log lines."""
    trace = tracing.current()
    return trace.request_id if trace is not None else "-"


def unauthorized(guard: Guard | None) -> Response:
    """401 with the challenge of the adapter's own scheme (RFC 9110 §11.6.1); an API key has
    no HTTP authentication scheme to name, so it gets none."""
    response = problem(401, "missing or invalid credentials")
    if guard is not None and guard.kind in _CHALLENGES:
        response.headers["WWW-Authenticate"] = _CHALLENGES[guard.kind]
    else:
        del response.headers["WWW-Authenticate"]
    return response


_CHALLENGES = {"bearer": "Bearer", "basic": 'Basic realm="naftiko", charset="UTF-8"'}


def status_for(exc: NaftikoError) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UnsupportedError):
        return 501
    if isinstance(exc, Overloaded):
        return 503
    if isinstance(exc, UpstreamTimeout):
        return 504
    if isinstance(exc, UpstreamUnavailable | MappingError | UpstreamError):
        return 502
    return 500


def error_response(exc: NaftikoError) -> Response:
    """The engine masks secrets in the errors it raises; nothing else carries them."""
    status = status_for(exc)
    extra = {"field": exc.field} if isinstance(exc, InputError) else {}
    return problem(status, str(exc), **extra)


def authorized(guard: Guard | None, conn: HTTPConnection) -> bool:
    """Constant-time comparison of the caller's credentials with the adapter's secret."""
    if guard is None:
        return True
    if guard.kind == "bearer":
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and _same(token.strip(), guard.secret)
    if guard.kind == "apikey":
        given = (
            conn.query_params.get(guard.key, "")
            if guard.placement == "query"
            else conn.headers.get(guard.key, "")
        )
        return _same(given, guard.secret)
    if guard.kind == "basic":
        scheme, _, encoded = conn.headers.get("authorization", "").partition(" ")
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = pair.partition(":")
        ok_user = _same(user, guard.username)
        return scheme.lower() == "basic" and ok_user & _same(password, guard.secret)
    return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def counted() -> None:
    """The request metrics already hold what this answer did (MCP: one sample per tool call,
    labelled by tool and OK/ERROR, SEMANTICS §8.3): the edge adds no sample of its own."""
    state = REQUEST_STATE.get()
    if state is not None:
        state[_COUNTED] = True


def is_counted(state: dict[str, Any]) -> bool:
    return _COUNTED in state
