"""Who may call an adapter: one `Gate` per adapter, awaited once per request.

Static credentials (bearer, API key, basic) and digest are checked in memory; `oauth2` makes the
adapter an OAuth 2.1 resource server (auth_oauth) that also serves its RFC 9728 Protected
Resource Metadata. Refusals carry the RFC 6750 / RFC 7616 challenges; an authorization server
that cannot be asked makes the adapter fail closed with 503, never admit.
"""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from naftiko.adapters.auth_digest import DigestVerifier
from naftiko.adapters.auth_introspection import validator
from naftiko.adapters.auth_oauth import (  # Authority is re-exported for the adapters
    RETRY_AFTER,
    Authority,
    AuthorityDown,
    Claims,
    Refused,
    Validator,
)
from naftiko.adapters.common import authorized, log, problem, unauthorized
from naftiko.engine.exposed import Guard, OAuthPolicy
from naftiko.engine.occasional import Occasional

PRM_PATH = "/.well-known/oauth-protected-resource"
CALLER = "naftiko.caller"  # key in scope["state"]: who was admitted, for the access log
IDENTITY = "naftiko.identity"  # key in scope["state"]: validated token claims, for traces
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$")


class Gate:
    def __init__(self, guard: Guard | None, authority: Authority | None = None) -> None:
        self.guard = guard
        self._digest = (
            DigestVerifier(guard.username, guard.secret)
            if guard is not None and guard.kind == "digest"
            else None
        )
        self._policy: OAuthPolicy | None = guard.oauth if guard is not None else None
        self._validator: Validator | None = None
        self._metadata_paths: frozenset[str] = frozenset()
        self._refusals = Occasional()  # an unreachable authorization server, once a minute
        if self._policy is not None:
            if authority is None:
                raise ValueError("an oauth2 gate needs the authorization-server client")
            self._validator = validator(self._policy, authority)
            resource_path = urlsplit(self._policy.resource or "").path.rstrip("/")
            self._metadata_paths = frozenset({PRM_PATH, PRM_PATH + resource_path})

    def metadata(self, conn: HTTPConnection) -> Response | None:
        """The RFC 9728 document at its well-known paths (served without credentials), or None
        when the request is for anything else."""
        if conn.scope["path"] not in self._metadata_paths or self._policy is None:
            return None
        if conn.scope["method"] not in ("GET", "HEAD"):
            refusal = problem(405, f"method {conn.scope['method']} not allowed", allow=["GET"])
            refusal.headers["Allow"] = "GET"
            return refusal
        document: dict[str, object] = {
            "resource": self._policy.resource or _origin(conn),
            "authorization_servers": [self._policy.issuer],
            "bearer_methods_supported": ["header"],
        }
        if self._policy.scopes:
            document["scopes_supported"] = list(self._policy.scopes)
        return JSONResponse(document)

    async def admit(self, conn: HTTPConnection) -> Response | None:
        """None when the caller may proceed (who it is is noted for the access log); else the
        refusal to send."""
        guard = self.guard
        if guard is None:
            return None
        if self._validator is not None and self._policy is not None:
            return await self._admit_token(conn, self._policy, self._validator)
        if self._digest is not None:
            return self._admit_digest(conn, self._digest)
        if not authorized(guard, conn):
            # The challenge names the guard's own scheme; an API key has none to name.
            return unauthorized(guard)
        if guard.kind == "basic":
            _note(conn, f"user={json.dumps(guard.username)}")
        return None

    async def _admit_token(
        self, conn: HTTPConnection, policy: OAuthPolicy, check: Validator
    ) -> Response | None:
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            # RFC 6750 §3.1: no error code when the request carried no token at all.
            return self._challenge(conn, policy, 401, "missing bearer token", None)
        try:
            claims = await check.validate(token)
        except Refused as exc:
            status = 403 if exc.error == "insufficient_scope" else 401
            return self._challenge(conn, policy, status, exc.description, exc.error)
        except AuthorityDown as exc:
            self._report(conn, exc)
            refusal = problem(503, "the authorization server cannot be reached; try again later")
            refusal.headers["Retry-After"] = str(int(RETRY_AFTER))
            return refusal
        _note(conn, _describe(claims))
        # The same claims as values, for the request's trace span (adapters/tracing.py).
        conn.scope["state"][IDENTITY] = {
            "enduser.id": claims.subject,
            "naftiko.client_id": claims.client_id,
            "enduser.scope": " ".join(claims.scopes),
        }
        return None

    def _report(self, conn: HTTPConnection, exc: AuthorityDown) -> None:
        """Said once per interval with how many were refused meanwhile, not once per request:
        any caller with any token could otherwise write a WARNING line per request."""
        count = self._refusals.count()
        if count is None:
            return
        method, path = conn.scope["method"], conn.scope["path"]
        log.warning("refusing %s %s: %s (%d request(s) refused so)", method, path, exc, count)

    def _challenge(
        self,
        conn: HTTPConnection,
        policy: OAuthPolicy,
        status: int,
        description: str,
        error: str | None,
    ) -> Response:
        params = []
        if error is not None:
            params += [f'error="{error}"', f'error_description="{description}"']
        if policy.scopes and error in (None, "insufficient_scope"):
            params.append(f'scope="{" ".join(policy.scopes)}"')
        params.append(f'resource_metadata="{_metadata_url(conn, policy)}"')
        refusal = problem(status, description)
        refusal.headers["WWW-Authenticate"] = "Bearer " + ", ".join(params)
        return refusal

    def _admit_digest(self, conn: HTTPConnection, digest: DigestVerifier) -> Response | None:
        header = conn.headers.get("authorization", "")
        target = conn.scope.get("raw_path") or conn.scope["path"].encode()
        query = conn.scope.get("query_string", b"")
        uri = (target + (b"?" + query if query else b"")).decode("latin-1")
        verdict = digest.verify(header, conn.scope["method"], uri) if header else False
        if verdict:
            _note(conn, f"user={json.dumps(self.guard.username if self.guard else '')}")
            return None
        refusal = problem(401, "missing or invalid credentials")
        del refusal.headers["WWW-Authenticate"]
        for challenge in digest.challenges(stale=verdict is None):
            refusal.headers.append("WWW-Authenticate", challenge)
        return refusal


__all__ = ["Authority", "Gate", "caller"]


def caller(scope: MutableMapping[str, Any]) -> str:
    """Who was admitted on this request, for the access log ("-" when nobody had to be)."""
    state = scope.get("state")
    noted = state.get(CALLER) if isinstance(state, dict) else None
    return noted if isinstance(noted, str) else "-"


def _note(conn: HTTPConnection, text: str) -> None:
    conn.scope.setdefault("state", {})[CALLER] = text


def _describe(claims: Claims) -> str:
    """`sub=… client_id=… scope=…`, each value JSON-quoted (control characters escaped)."""
    return " ".join(
        [
            f"sub={json.dumps(claims.subject)}",
            f"client_id={json.dumps(claims.client_id)}",
            f"scope={json.dumps(' '.join(claims.scopes))}",
        ]
    )


def _metadata_url(conn: HTTPConnection, policy: OAuthPolicy) -> str:
    """RFC 9728 §3.1: the well-known segment goes between the resource's host and path."""
    if policy.resource:
        parts = urlsplit(policy.resource)
        return f"{parts.scheme}://{parts.netloc}{PRM_PATH}{parts.path.rstrip('/')}"
    return _origin(conn) + PRM_PATH


def _origin(conn: HTTPConnection) -> str:
    """This adapter's origin as the caller addressed it (a Host header that is not a plain
    host[:port] is not echoed; the listening socket's address stands in)."""
    host = conn.headers.get("host", "")
    if not _SAFE_HOST.match(host):
        server = conn.scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    return f"{conn.scope.get('scheme', 'http')}://{host}"
