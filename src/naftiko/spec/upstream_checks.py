"""Load-time checks of the upstream request parts a caller may fill: a consumed operation's
inputs that would let a caller pick the upstream's virtual host, replace the configured
credentials, or frame the request the gateway sends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from naftiko.errors import Problem
from naftiko.model import ApiKeyAuth, Authentication, InputParameter
from naftiko.model.auth import owned_headers

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey

# The gateway frames each upstream request itself: a Transfer-Encoding beside its own
# Content-Length would smuggle a second request to the upstream.
_FRAMING = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer"}
    | {"upgrade", "proxy-connection"}
)
# The upstream's authority, and the proxy's credentials: configuration's.
_ADDRESSING = frozenset({"host", "proxy-authorization"})
# What a caller may never set upstream, whatever the spec says (also a forward's trusted
# headers, `adapter_checks`).
NEVER_FROM_CALLER = _FRAMING | _ADDRESSING


def caller_inputs(
    params: Sequence[InputParameter],
    at: PathKey,
    auth: Authentication | None,
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    """Upstream headers (and the API key's query parameter) a caller may not fill
    (SECURITY.md 1): the upstream's authority (`Host`) and credentials are configuration's,
    the request's framing the gateway's."""
    owned = owned_headers(auth)
    in_query = isinstance(auth, ApiKeyAuth) and auth.placement == "query"
    owned_query = auth.key if isinstance(auth, ApiKeyAuth) and in_query else None
    for p, param in enumerate(params):
        name = param.name.lower()
        if param.in_ == "query" and param.value is None and param.name == owned_query:
            # Sent twice, an upstream reading the first copy takes the caller's for the key.
            reason = "may not come from a caller: the namespace's API key travels in it"
            errors.append(ctx.problem((*at, p, "name"), f"query parameter {param.name!r} {reason}"))
            continue
        if param.in_ != "header":
            continue
        if name in _FRAMING:
            reason = "frames the request: the gateway sets it"
        elif param.value is not None:
            continue
        elif name in _ADDRESSING:
            reason = "may not come from a caller: the upstream's address is configuration's"
        elif name in owned:
            reason = "may not come from a caller: the namespace's credentials set it"
        else:
            continue
        errors.append(ctx.problem((*at, p, "name"), f"header {param.name!r} {reason}"))
