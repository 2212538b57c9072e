"""Authentication: upstream credentials (consumes) and adapter protection (exposes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Tag

from naftiko.model.base import Model


class _UserPassword(Model):
    type: str
    username: str | None = None
    password: str | None = None


class BasicAuth(_UserPassword):
    type: Literal["basic"]


class DigestAuth(_UserPassword):
    type: Literal["digest"]


class BearerAuth(Model):
    type: Literal["bearer"]
    token: str | None = None


class ApiKeyAuth(Model):
    type: Literal["apikey"]
    key: str | None = None
    value: str | None = None
    placement: Literal["header", "query"] = "header"
    # Dialect: several files put a `headers:` map here instead of key/value/placement.
    headers: dict[str, str] | None = None


class OAuth2Auth(Model):
    type: Literal["oauth2"]
    authorizationServerUri: str | None = None
    resource: str | None = None
    scopes: list[str] | None = None
    audience: str | None = None
    tokenEndpoint: str | None = None
    tokenValidation: Literal["jwks", "introspection"] | None = None
    # Client-credentials grant for consumes (an extension: the schema's oauth2 is exposes-only).
    clientId: str | None = None
    clientSecret: str | None = None


class AwsSigV4Auth(Model):
    """AWS Signature Version 4 (an extension used by published specs; not in the schema)."""

    type: Literal["aws-sig-v4"]
    accessKeyId: str | None = None
    secretKey: str | None = None
    secretAccessKey: str | None = None
    sessionToken: str | None = None
    region: str | None = None
    service: str | None = None


class UnsupportedAuth(Model):
    """A type outside the spec (e.g. `aws-sig-v4`): loads with a warning, refused by `run`."""

    type: str


_KNOWN = {"basic", "digest", "bearer", "apikey", "oauth2", "aws-sig-v4"}


def _auth_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _KNOWN else "unsupported"


Authentication = Annotated[
    Annotated[BasicAuth, Tag("basic")]
    | Annotated[DigestAuth, Tag("digest")]
    | Annotated[BearerAuth, Tag("bearer")]
    | Annotated[ApiKeyAuth, Tag("apikey")]
    | Annotated[OAuth2Auth, Tag("oauth2")]
    | Annotated[AwsSigV4Auth, Tag("aws-sig-v4")]
    | Annotated[UnsupportedAuth, Tag("unsupported")],
    Discriminator(_auth_tag),
]


_SIGNED = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})


def owned_headers(auth: Authentication | None) -> frozenset[str]:
    """The request headers (lower-case) that `auth` sets: a forward's caller may not send
    them in its stead, whatever `trustedHeaders` says (credentials are configuration's)."""
    if isinstance(auth, BearerAuth | BasicAuth | DigestAuth | OAuth2Auth):
        return frozenset({"authorization"})
    if isinstance(auth, AwsSigV4Auth):
        return _SIGNED
    if isinstance(auth, ApiKeyAuth):
        names = {name.lower() for name in auth.headers or {}}
        if auth.key and auth.placement != "query":
            names.add(auth.key.lower())
        return frozenset(names)
    return frozenset()
