"""Upstream credentials: bearer, API key, basic, digest, OAuth2 client credentials and AWS
Signature V4."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from naftiko.engine import aws_sigv4
from naftiko.engine.flights import Flights
from naftiko.engine.request import UpstreamRequest, header_value
from naftiko.engine.scope import Scope
from naftiko.errors import UpstreamError
from naftiko.expressions import parse_template, to_text
from naftiko.model import (
    ApiKeyAuth,
    Authentication,
    AwsSigV4Auth,
    BasicAuth,
    BearerAuth,
    DigestAuth,
    OAuth2Auth,
)
from naftiko.spec.bindings import Bindings

TokenFetcher = Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]


def render(text: str | None, scope: Scope) -> str:
    if not text:
        return ""
    return parse_template(text).render(scope.get, encode=to_text)


def apply(auth: Authentication | None, request: UpstreamRequest, scope: Scope) -> None:
    """Add static credentials; OAuth2 and digest need the network and are handled by Upstream."""
    if isinstance(auth, BearerAuth):
        token = render(auth.token, scope)
        request.headers["Authorization"] = header_value("Authorization", f"Bearer {token}")
    elif isinstance(auth, ApiKeyAuth):
        for name, value in (auth.headers or {}).items():
            request.headers[name] = header_value(name, render(value, scope))
        if auth.key:
            value = render(auth.value, scope)
            if auth.placement == "query":
                request.query.append((auth.key, value))
            else:
                request.headers[auth.key] = header_value(auth.key, value)
    elif isinstance(auth, BasicAuth):
        pair = f"{render(auth.username, scope)}:{render(auth.password, scope)}"
        encoded = base64.b64encode(pair.encode()).decode()
        request.headers["Authorization"] = f"Basic {encoded}"
    elif isinstance(auth, AwsSigV4Auth):
        # Last: the signature covers the final URL, query, headers and body.
        credentials = aws_sigv4.AwsCredentials(
            access_key=render(auth.accessKeyId, scope),
            secret_key=render(auth.secretKey or auth.secretAccessKey, scope),
            region=render(auth.region, scope) or "us-east-1",
            service=render(auth.service, scope),
            session_token=render(auth.sessionToken, scope),
        )
        for name, value in list(request.headers.items()):
            request.headers[name] = header_value(name, value)
        aws_sigv4.sign(
            request.method, request.full_url(), request.headers, request.body, credentials
        )


@dataclass(frozen=True)
class StaticCredentials:
    headers: dict[str, str]
    query: list[tuple[str, str]]

    @cached_property
    def names(self) -> frozenset[str]:
        """The header names, lower-cased: what a request's own header may override."""
        return frozenset(name.lower() for name in self.headers)


def static_credentials(auth: Authentication | None, bindings: Bindings) -> StaticCredentials | None:
    """Bearer, API-key and basic credentials whose templates only use bound variables."""
    if not isinstance(auth, BearerAuth | ApiKeyAuth | BasicAuth):
        return None
    texts = [v for v in auth.model_dump().values() if isinstance(v, str)]
    if isinstance(auth, ApiKeyAuth):
        texts += list((auth.headers or {}).values())
    empty = Scope({}, bindings)
    if any(empty.get(var) is None for text in texts for var in parse_template(text).variables):
        return None
    probe = UpstreamRequest("GET", "")
    apply(auth, probe, empty)
    return StaticCredentials(probe.headers, probe.query)


class OAuth2Tokens:
    """Client-credentials tokens, cached per consumed namespace and refreshed before expiry."""

    def __init__(self, fetch: TokenFetcher) -> None:
        self._fetch = fetch
        self._cache: dict[str, tuple[str, float]] = {}
        # One fetch per namespace in flight (at start, or when the token expires).
        self._fetches: Flights[str, str] = Flights()

    async def token(self, namespace: str, auth: OAuth2Auth, scope: Scope) -> str:
        cached = self._cache.get(namespace)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return await self._fetches.run(namespace, lambda: self._fresh(namespace, auth, scope))

    async def _fresh(self, namespace: str, auth: OAuth2Auth, scope: Scope) -> str:
        endpoint = render(auth.tokenEndpoint or auth.authorizationServerUri, scope)
        form = {
            "grant_type": "client_credentials",
            "client_id": render(auth.clientId, scope),
            "client_secret": render(auth.clientSecret, scope),
        }
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        if auth.audience:
            form["audience"] = auth.audience
        answer = await self._fetch(endpoint, form)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise UpstreamError("OAuth2 token endpoint answered without an access_token")
        if not token.isprintable():
            # It goes into a header, where the HTTP client refuses a control character.
            raise UpstreamError(
                "OAuth2 token endpoint answered an access_token no header can carry"
            )
        lifetime = answer.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        # Refresh a little early so a token never expires in flight.
        self._cache[namespace] = (
            token,
            time.monotonic() + max(seconds - 30.0, seconds / 2),
        )
        return token


def digest_header(
    auth: DigestAuth, scope: Scope, challenge: str, method: str, uri: str
) -> str | None:
    """An RFC 7616 `Authorization: Digest` answer (MD5 / SHA-256, qop=auth) to a challenge."""
    params = _parse_challenge(challenge)
    realm, nonce = params.get("realm", ""), params.get("nonce")
    if nonce is None or not all(map(_quotable, params.values())):
        # The upstream's values are copied into our header: one with a quote or a control
        # character cannot be (the HTTP client would refuse it, as a 500). Not answered:
        # the 401 stands, as a refusal of the configured credentials.
        return None
    algorithm = params.get("algorithm", "MD5").upper()
    hasher = hashlib.sha256 if algorithm.startswith("SHA-256") else hashlib.md5

    def h(text: str) -> str:
        return hasher(text.encode()).hexdigest()

    user, password = render(auth.username, scope), render(auth.password, scope)
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    cnonce = os.urandom(8).hex()
    fields = [
        f'username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={algorithm}",
    ]
    if "auth" in params.get("qop", "").split(","):
        response = h(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


def _quotable(value: str) -> bool:
    return value.isprintable() and '"' not in value and "\\" not in value


def _parse_challenge(challenge: str) -> dict[str, str]:
    text = challenge.strip()
    if text.lower().startswith("digest"):
        text = text[6:]
    out: dict[str, str] = {}
    for chunk in _split_commas(text):
        key, eq, value = chunk.strip().partition("=")
        if eq:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def _split_commas(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def credential_secrets(auths: list[Authentication | None], bindings: Bindings) -> set[str]:
    """Every credential value the spec configures (bound or literal), whatever its length:
    these are masked in everything the engine hands back (SECURITY.md)."""
    scope = Scope({}, bindings)
    secrets: set[str] = set()
    for auth in auths:
        texts: list[str | None] = []
        if isinstance(auth, BearerAuth):
            texts = [auth.token]
        elif isinstance(auth, ApiKeyAuth):
            texts = [auth.value, *(auth.headers or {}).values()]
        elif isinstance(auth, BasicAuth | DigestAuth):
            texts = [auth.password]
        elif isinstance(auth, OAuth2Auth):
            texts = [auth.clientSecret]
        for text in texts:
            if text and (value := render(text, scope)):
                secrets.add(value)
                if isinstance(auth, BasicAuth):
                    user = render(auth.username, scope)
                    secrets.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    return secrets
