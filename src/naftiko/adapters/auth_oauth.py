"""OAuth 2.1 resource server (SEMANTICS §5.8): bearer JWTs checked against the authorization
server's published keys, or opaque tokens checked by RFC 7662 introspection.

Signatures and claims are checked by PyJWT (with `cryptography`), never by code of ours; this
module decides *which* key and algorithm may be used, fetches metadata and keys through the
runtime's pooled authorization-server client, and caches what it fetched.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote_plus, urlsplit

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
MAX_INTROSPECTED = 10_000
RETRY_AFTER = 5.0  # after a failed fetch, requests are refused at once for this long


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


def validator(policy: OAuthPolicy, authority: Authority) -> Validator:
    metadata = Metadata(policy.issuer, authority)
    if policy.validation == "introspection":
        return _Introspection(policy, metadata, authority)
    return _JwtValidator(policy, metadata, authority)


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


def _claims(policy: OAuthPolicy, claims: dict[str, Any]) -> Claims:
    granted = _check_scopes(policy, claims)
    subject, client = claims.get("sub"), claims.get("client_id", claims.get("azp"))
    return Claims(
        subject if isinstance(subject, str) else None,
        client if isinstance(client, str) else None,
        granted,
    )


async def _fetch_json(authority: Authority, url: str, what: str, **kw: Any) -> tuple[Any, float]:
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


class _Backoff:
    """The last failure to reach the authorization server, remembered for RETRY_AFTER seconds:
    requests queued behind one fetch fail at once instead of each waiting out a timeout."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._failure: AuthorityDown | None = None
        self._until = 0.0

    async def run(self, fetch: Callable[[], Awaitable[_T]]) -> _T:
        if self._failure is not None and self._clock() < self._until:
            raise AuthorityDown(f"{self._failure} (not asked again yet)")
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
                fresh, ttl = await self._backoff.run(self._discover)
                self._document, self._expires = fresh, self._clock() + ttl
            document = self._document
        value = document.get(field) if document is not None else None
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise AuthorityDown(f"the authorization server's metadata has no usable {field}")
        return value

    async def _discover(self) -> tuple[dict[str, Any], float]:
        failure = "no metadata document"
        for url in discovery_urls(self._issuer):
            try:
                document, ttl = await _fetch_json(self._authority, url, "metadata")
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


class _JwtValidator:
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
        return _claims(self.policy, claims)


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
                    await self._refresh()
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
        document, ttl = await _fetch_json(self._authority, url, "keys")
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise AuthorityDown("the authorization server's jwks_uri holds no key set")
        self._keys = [k for k in keys if isinstance(k, dict)]
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


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    """May `jwk` verify a token signed with `alg`? (Symmetric `oct` keys never fit.)"""
    if jwk.get("kty") != _KEY_TYPES[alg]:
        return False
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    if alg in _CURVES:
        return jwk.get("crv") == _CURVES[alg]
    return alg != "EdDSA" or jwk.get("crv") in ("Ed25519", "Ed448")


class _Introspection:
    """RFC 7662: the authorization server says whether a token is active; an active answer is
    cached until the token's own expiry (bounded, oldest first out); inactive ones are not."""

    def __init__(self, policy: OAuthPolicy, metadata: Metadata, authority: Authority) -> None:
        self.policy = policy
        self._metadata = metadata
        self._authority = authority
        self._cache: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[dict[str, Any]]] = {}

    async def validate(self, token: str) -> Claims:
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.time():
            return _claims(self.policy, cached[1])
        # One question per token in flight: a burst of one caller's requests before the first
        # answer is cached costs the authorization server one introspection, not one each.
        pending = self._pending.get(digest)
        if pending is None:
            pending = self._pending[digest] = asyncio.ensure_future(self._ask(token, digest))
            pending.add_done_callback(lambda task: self._settled(digest, task))
        # Shielded: a caller who leaves does not cancel the answer the others wait for.
        return _claims(self.policy, await asyncio.shield(pending))

    def _settled(self, digest: bytes, task: asyncio.Future[dict[str, Any]]) -> None:
        del self._pending[digest]
        if not task.cancelled():
            task.exception()  # retrieved: when every waiter has left, nobody else would

    async def _ask(self, token: str, digest: bytes) -> dict[str, Any]:
        url = await self._metadata.get("introspection_endpoint")
        answer, _ = await _fetch_json(
            self._authority,
            url,
            "introspection",
            form={"token": token, "token_type_hint": "access_token"},
            # RFC 6749 §2.3.1: both are form-urlencoded before they go into Basic.
            basic=(quote_plus(self.policy.client_id), quote_plus(self.policy.client_secret)),
        )
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise Refused("the token is not active")
        self._check(answer)
        expiry = answer.get("exp")
        if isinstance(expiry, int | float):
            self._cache[digest] = (float(expiry), answer)
            self._cache.move_to_end(digest)
            while len(self._cache) > MAX_INTROSPECTED:
                self._cache.popitem(last=False)
        return answer

    def _check(self, answer: dict[str, Any]) -> None:
        now = time.time()
        expiry, not_before = answer.get("exp"), answer.get("nbf")
        if isinstance(expiry, int | float) and expiry + LEEWAY <= now:
            raise Refused("the token has expired")
        if isinstance(not_before, int | float) and not_before - LEEWAY > now:
            raise Refused("the token is not valid yet")
        issuer = answer.get("iss")
        if isinstance(issuer, str) and issuer.rstrip("/") != self.policy.issuer:
            raise Refused("the token comes from another issuer")
        audience = answer.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if isinstance(audiences, list) and self.policy.audience not in audiences:
            raise Refused("the token is meant for another audience")


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
