"""OAuth 2.1 resource server (SEMANTICS §5.8): bearer JWTs checked against the authorization
server's published keys (opaque tokens are introspected: auth_introspection).

Signatures and claims are checked by PyJWT (with `cryptography`), never by code of ours; this
module decides *which* key and algorithm may be used, fetches metadata and keys through the
runtime's pooled authorization-server client, and caches what it fetched.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import naftiko.safejson as safejson

if TYPE_CHECKING:
    from jwt import PyJWK

# PyJWT and `cryptography` (~75 ms of imports) are imported when a JWT validator is built, at
# start-up: only a spec with an OAuth-protected adapter pays for them, and never mid-request.
from naftiko.engine.exposed import OAuthPolicy
from naftiko.engine.transport import UpstreamResponse
from naftiko.errors import UpstreamError

log = logging.getLogger("naftiko.auth")

# Asymmetric algorithms only: `none` and every HMAC algorithm are refused before any key is
# looked at, so a public key can never be used as an HMAC secret.
_KEY_TYPES = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    **dict.fromkeys(("ES256", "ES384", "ES512"), "EC"),
    "EdDSA": "OKP",
}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
LEEWAY = 30.0  # seconds of clock skew tolerated on exp/nbf/iat
KEYS_TTL = 300.0  # JWKS and metadata kept this long unless Cache-Control says otherwise
MAX_KEYS_TTL = 3600.0
MIN_KID_REFRESH = 30.0  # an unknown `kid` refetches the keys at most this often
MAX_KEYS = 100  # of a JWKS, the first this many are used
RETRY_AFTER = 5.0  # after a failed fetch, requests are refused at once for this long
# Keys and metadata past their lifetime still serve while the authorization server cannot be
# reached, for at most this long: an outage of the issuer alone does not lock every caller
# out, and a key it has withdrawn stops working within the hour even so.
MAX_STALE = 3600.0


class Authority(Protocol):
    """The pooled client that reaches authorization servers (engine.upstream.Upstreams)."""

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse: ...


class Refused(Exception):
    """The token is not acceptable: 401 invalid_token, or 403 insufficient_scope."""

    def __init__(self, description: str, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class AuthorityDown(Exception):
    """The authorization server could not be asked: the adapter fails closed with 503."""


@dataclass(frozen=True)
class Claims:
    """What an admitted token says about its caller (for the access log)."""

    subject: str | None
    client_id: str | None
    scopes: tuple[str, ...]


class Validator(Protocol):
    async def validate(self, token: str) -> Claims: ...


def scopes_of(claims: dict[str, Any]) -> tuple[str, ...]:
    """`scope` (RFC 8693/9068, space-separated) or `scp` (a list, or a string)."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


def _check_scopes(policy: OAuthPolicy, claims: dict[str, Any]) -> tuple[str, ...]:
    granted = scopes_of(claims)
    if any(scope not in granted for scope in policy.scopes):
        raise Refused("the token lacks a required scope", "insufficient_scope")
    return granted


def claims_of(policy: OAuthPolicy, claims: dict[str, Any]) -> Claims:
    granted = _check_scopes(policy, claims)
    subject, client = claims.get("sub"), claims.get("client_id", claims.get("azp"))
    return Claims(
        subject if isinstance(subject, str) else None,
        client if isinstance(client, str) else None,
        granted,
    )


async def fetch_json(authority: Authority, url: str, what: str, **kw: Any) -> tuple[Any, float]:
    """`url`'s JSON document and how long it may be cached; AuthorityDown when unusable."""
    try:
        answer = await authority.call_authority(url, **kw)
    except UpstreamError as exc:
        raise AuthorityDown(f"{what}: {exc}") from None
    if answer.status != 200:
        raise AuthorityDown(f"{what}: the authorization server answered {answer.status}")
    try:
        # Strict and bounded: a document nested past the parser's stack is no JSON either.
        return safejson.upstream(answer.body), _max_age(answer.headers.get("Cache-Control", ""))
    except ValueError:
        raise AuthorityDown(f"{what}: the authorization server answered no JSON") from None


def _max_age(cache_control: str) -> float:
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return min(float(value), MAX_KEYS_TTL)
    return KEYS_TTL


def discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 (well-known inserted before the issuer's path), then OpenID Connect
    Discovery in both placements, as the MCP authorization specification lists them."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    urls = [f"{origin}/.well-known/oauth-authorization-server{path}"]
    if path:
        urls.append(f"{origin}/.well-known/openid-configuration{path}")
    urls.append(f"{origin}{path}/.well-known/openid-configuration")
    return urls


_T = TypeVar("_T")


class _NotAskedYet(AuthorityDown):
    """The authorization server failed a moment ago and is not asked again yet."""


class _Backoff:
    """The last failure to reach the authorization server, remembered for RETRY_AFTER seconds:
    requests queued behind one fetch fail at once instead of each waiting out a timeout."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._failure: AuthorityDown | None = None
        self._until = 0.0

    async def run(self, fetch: Callable[[], Awaitable[_T]]) -> _T:
        if self._failure is not None and self._clock() < self._until:
            raise _NotAskedYet(f"{self._failure} (not asked again yet)")
        try:
            result = await fetch()
        except AuthorityDown as exc:
            self._failure, self._until = exc, self._clock() + RETRY_AFTER
            raise
        self._failure = None
        return result


class Metadata:
    """The authorization server's metadata, discovered once and refreshed when stale."""

    def __init__(
        self, issuer: str, authority: Authority, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._issuer = issuer
        self._authority = authority
        self._clock = clock
        self._document: dict[str, Any] | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._backoff = _Backoff(clock)

    async def get(self, field: str) -> str:
        async with self._lock:
            if self._document is None or self._clock() >= self._expires:
                try:
                    fresh, ttl = await self._backoff.run(self._discover)
                except AuthorityDown as exc:
                    if not _stale_serves(self._document, self._expires, self._clock, exc):
                        raise
                else:
                    self._document, self._expires = fresh, self._clock() + ttl
            document = self._document
        value = document.get(field) if document is not None else None
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise AuthorityDown(f"the authorization server's metadata has no usable {field}")
        if self._issuer.startswith("https://") and not value.startswith("https://"):
            # An https issuer's keys (or introspection secret) over plain http: anyone on the
            # path could serve their own keys. RFC 8414 §3: metadata endpoints use TLS.
            raise AuthorityDown(f"the authorization server's metadata names a plain-http {field}")
        return value

    async def _discover(self) -> tuple[dict[str, Any], float]:
        failure = "no metadata document"
        for url in discovery_urls(self._issuer):
            try:
                document, ttl = await fetch_json(self._authority, url, "metadata")
            except AuthorityDown as exc:
                failure = str(exc)
                continue
            issuer = document.get("issuer") if isinstance(document, dict) else None
            # RFC 8414 §3.3: metadata naming another issuer must not be used.
            if not isinstance(document, dict) or not isinstance(issuer, str):
                raise AuthorityDown(f"metadata at {url} names no issuer")
            if issuer.rstrip("/") != self._issuer:
                raise AuthorityDown(f"metadata at {url} names another issuer")
            return document, ttl
        raise AuthorityDown(f"authorization server {self._issuer}: {failure}")


class JwtValidator:
    def __init__(self, policy: OAuthPolicy, metadata: Metadata, authority: Authority) -> None:
        self.policy = policy
        self.keys = KeySet(metadata, authority)
        importlib.import_module("jwt")  # now, at start, not at the first token

    async def validate(self, token: str) -> Claims:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refused("the token is not a JWT") from None
        alg = header.get("alg")
        # A header is the caller's JSON: `alg` may be a list or an object (unhashable).
        if not isinstance(alg, str) or alg not in _KEY_TYPES:
            raise Refused("the token's algorithm is not accepted")
        kid = header.get("kid")
        key = await self.keys.find(kid if isinstance(kid, str) else None, alg)
        issuers = [self.policy.issuer, self.policy.issuer + "/"]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.policy.audience,
                issuer=issuers,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Refused(_refusal(jwt, exc)) from None
        return claims_of(self.policy, claims)


class KeySet:
    """The issuer's JWKS: cached for its max-age; an unknown `kid` refetches it, at most once
    per MIN_KID_REFRESH (a flood of forged kids costs the authorization server one request)."""

    def __init__(
        self,
        metadata: Metadata,
        authority: Authority,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata = metadata
        self._authority = authority
        self._clock = clock
        self._keys: list[dict[str, Any]] = []
        self._expires = 0.0
        self._kid_refreshed: float | None = None
        self._lock = asyncio.Lock()
        self._backoff = _Backoff(clock)

    async def find(self, kid: str | None, alg: str) -> PyJWK:
        # The lock is taken only to fetch: a token whose key is known is never held behind
        # a refetch that a forged `kid` started (the server may take --timeout to answer).
        if self._clock() >= self._expires:
            async with self._lock:
                if self._clock() >= self._expires:  # not refreshed while this one waited
                    try:
                        await self._refresh()
                    except AuthorityDown as exc:
                        if not _stale_serves(self._keys, self._expires, self._clock, exc):
                            raise
        key = self._match(kid, alg)
        if key is None and kid is not None and self._may_refresh_for_kid():
            async with self._lock:
                key = self._match(kid, alg)
                if key is None and self._may_refresh_for_kid():
                    self._kid_refreshed = self._clock()
                    await self._refresh()
                    key = self._match(kid, alg)
        if key is None:
            raise Refused("the token's key is not among the issuer's keys")
        return key

    def _may_refresh_for_kid(self) -> bool:
        last = self._kid_refreshed
        return last is None or self._clock() - last >= MIN_KID_REFRESH

    async def _refresh(self) -> None:
        await self._backoff.run(self._fetch)

    async def _fetch(self) -> None:
        url = await self._metadata.get("jwks_uri")
        document, ttl = await fetch_json(self._authority, url, "keys")
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise AuthorityDown("the authorization server's jwks_uri holds no key set")
        published = [k for k in keys if isinstance(k, dict)]
        if len(published) > MAX_KEYS:
            # Every token's key is looked for among them, on the event loop: 200,000 keys
            # (a 64 MiB answer) took 48 ms per request. A real issuer publishes a handful.
            log.warning(
                "the authorization server publishes %d keys: the first %d are used",
                len(published),
                MAX_KEYS,
            )
        self._keys = published[:MAX_KEYS]
        self._expires = self._clock() + ttl

    def _match(self, kid: str | None, alg: str) -> PyJWK | None:
        candidates = [
            k for k in self._keys if _fits(k, alg) and (kid is None or k.get("kid") == kid)
        ]
        # Without a kid only an unambiguous key is used.
        if len(candidates) != 1:
            return None
        import jwt

        try:
            return jwt.PyJWK(candidates[0], algorithm=alg)
        except jwt.PyJWTError:
            return None


def _stale_serves(
    held: object, expired: float, clock: Callable[[], float], exc: AuthorityDown
) -> bool:
    """Whether what is `held` (keys, metadata) serves on though its refresh failed: there is
    some, and it expired less than MAX_STALE ago. Said once per failed refresh (the backoff
    lets one through every RETRY_AFTER)."""
    if not held or clock() - expired >= MAX_STALE:
        return False
    if not isinstance(exc, _NotAskedYet):
        log.warning("%s: the keys and metadata fetched last serve meanwhile", exc)
    return True


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    """May `jwk` verify a token signed with `alg`? (Symmetric `oct` keys never fit.)"""
    if jwk.get("kty") != _KEY_TYPES[alg]:
        return False
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    if alg in _CURVES:
        return jwk.get("crv") == _CURVES[alg]
    return alg != "EdDSA" or jwk.get("crv") in ("Ed25519", "Ed448")


# Why a token was refused, by the PyJWT exception that said so.
_REFUSALS = (
    ("ExpiredSignatureError", "the token has expired"),
    ("ImmatureSignatureError", "the token is not valid yet"),
    ("InvalidAudienceError", "the token is meant for another audience"),
    ("InvalidIssuerError", "the token comes from another issuer"),
    ("InvalidSignatureError", "the token's signature does not verify"),
)


def _refusal(jwt: Any, exc: Exception) -> str:
    """`jwt` is the module, imported on first use (only OAuth-protected adapters need it)."""
    for name, reason in _REFUSALS:
        if isinstance(exc, getattr(jwt, name)):
            return reason
    return "the token is malformed or incomplete"
