"""A real OAuth 2.1 authorization server on loopback, for resource-server tests.

The authorize/token/register endpoints are the `mcp` SDK's authorization-server components
(PKCE, dynamic client registration, RFC 8707 resource); this file adds what a resource server
needs of an AS besides: a JWKS endpoint (with key rotation), RFC 7662 introspection, and
metadata naming both. Tokens are signed with joserfc, a JOSE library independent of the PyJWT
that naftiko verifies with.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    # The SDK is imported where a server is built or answers (~0.5 s), not at every test
    # worker's collection of the modules that import this one.
    from mcp.server.auth.provider import (
        AccessToken,
        AuthorizationCode,
        AuthorizationParams,
        IdentityAssertionParams,
        RefreshToken,
    )
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

SUBJECT = "alice"
INTROSPECTOR = ("naftiko-rs", "introspection-secret")
Key = RSAKey | ECKey | OKPKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class AuthServer:
    """Issuer state the tests drive: signing keys, issued tokens, what was asked of it."""

    issuer: str
    keys: list[Key] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    introspected: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, OAuthClientInformationFull] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)  # granted on the authorization-code flow

    def rotate(self, kind: str = "RSA") -> Key:
        """Publish a new signing key (the newest signs); older keys are dropped."""
        key = new_key(kind)
        self.keys = [key]
        return key

    def mint(
        self,
        key: Key | None = None,
        alg: str | None = None,
        kid: str | None = "",
        **claims: Any,
    ) -> str:
        """A JWT with sensible claims (overridden by `claims`; a None value drops a claim)."""
        key = key or self.keys[0]
        alg = alg or _ALGS[key.key_type]
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": "https://api.example/orders",
            "client_id": "test-client",
            "scope": "orders:read",
            "iat": now,
            "exp": now + 300,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": alg, "typ": "at+jwt"}
        kid = key.kid if kid == "" else kid
        if kid is not None:
            header["kid"] = kid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc flags EdDSA as superseded by RFC 9864
            return jwt.encode(header, body, key, algorithms=[alg], registry=_REGISTRY)

    def mint_with_header(self, key: Key, header: dict[str, Any], **claims: Any) -> str:
        """A token signed by `key` whose JOSE header carries `header` besides `alg` (`jku`,
        `x5u`, `jwk`: places a careless verifier would fetch its key from)."""
        body: dict[str, Any] = {"iss": self.issuer, "sub": SUBJECT, "scope": "orders:read"}
        body |= {"aud": "https://api.example/orders", "exp": int(time.time()) + 300, **claims}
        full: dict[str, Any] = {"alg": _ALGS[key.key_type], **header}
        return jwt.encode(full, body, key, algorithms=[full["alg"]], registry=_REGISTRY)

    def opaque(self, **claims: Any) -> str:
        """An opaque token that only introspection can explain."""
        token = secrets.token_urlsafe(24)
        now = int(time.time())
        info = {"active": True, "iss": self.issuer, "sub": SUBJECT, "client_id": "test-client"}
        info |= {"scope": "orders:read", "exp": now + 300, "aud": "https://api.example/orders"}
        info.update(claims)
        self.introspected[token] = info
        return token

    def count(self, path: str) -> int:
        return self.hits.get(path, 0)

    # ------------------------------------------------------------------ provider (mcp SDK)

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        """The user consents at once: straight back to the client with a code."""
        from mcp.server.auth.provider import AuthorizationCode, construct_redirect_uri

        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id or "",
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=SUBJECT,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        from mcp.shared.auth import OAuthToken

        self.codes.pop(authorization_code.code, None)
        scopes = authorization_code.scopes or self.scopes
        claims: dict[str, Any] = {
            "aud": authorization_code.resource,
            "client_id": client.client_id,
            "scope": " ".join(scopes),
        }
        self.issued.append(claims)
        token = self.mint(**claims)
        return OAuthToken(
            access_token=token, token_type="Bearer", expires_in=300, scope=" ".join(scopes)
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        return None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        raise NotImplementedError

    async def load_access_token(self, token: str) -> AccessToken | None:
        return None

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        return None

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        from mcp.server.auth.provider import TokenError

        raise TokenError("unsupported_grant_type", "no identity assertion grant here")

    # ------------------------------------------------------------------ extra endpoints

    def app(self) -> Starlette:
        from mcp.server.auth.routes import build_metadata, create_auth_routes
        from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions

        issuer = AnyHttpUrl(self.issuer)
        registration = ClientRegistrationOptions(
            enabled=True, valid_scopes=["orders:read", "orders:write", "batches"]
        )
        metadata = build_metadata(issuer, None, registration, RevocationOptions())
        document = metadata.model_dump(mode="json", exclude_none=True)
        document["issuer"] = self.issuer  # exactly as configured, no trailing slash added
        document["jwks_uri"] = f"{self.issuer}/jwks"
        document["introspection_endpoint"] = f"{self.issuer}/introspect"

        async def well_known(request: Request) -> Response:
            self._hit("metadata")
            return JSONResponse(document)

        async def jwks(request: Request) -> Response:
            self._hit("jwks")
            return JSONResponse({"keys": [k.as_dict(private=False) for k in self.keys]})

        async def introspect(request: Request) -> Response:
            self._hit("introspect")
            expected = "Basic " + base64.b64encode(":".join(INTROSPECTOR).encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            form = await request.form()
            info = self.introspected.get(str(form.get("token", "")))
            return JSONResponse(info or {"active": False})

        routes = [
            Route("/.well-known/oauth-authorization-server", well_known),
            Route("/jwks", jwks),
            Route("/introspect", introspect, methods=["POST"]),
            *create_auth_routes(self, issuer, client_registration_options=registration),
        ]
        return Starlette(routes=routes)

    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1


_ALGS = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}
_REGISTRY = JWSRegistry(algorithms=["RS256", "PS256", "ES256", "EdDSA"])


def new_key(kind: str = "RSA") -> Key:
    kid = f"{kind.lower()}-{secrets.token_hex(4)}"
    if kind == "EC":
        return ECKey.generate_key("P-256", parameters={"kid": kid})
    if kind == "OKP":
        return OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def unsigned(claims: dict[str, Any], alg: object = "none") -> str:
    """`alg: none` (or any other `alg` value): a token with no signature at all."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def hmac_with_public_key(key: RSAKey, claims: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HS256 keyed with the issuer's *public* key."""
    import hashlib
    import hmac

    pem = key.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_auth_server() -> Iterator[AuthServer]:
    """The authorization server on 127.0.0.1:<ephemeral>, run by uvicorn in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Listening before uvicorn runs: connections queue in the kernel until it accepts them,
    # so nothing has to wait for the server to be "up".
    sock.listen(128)
    server_state = AuthServer(f"http://127.0.0.1:{sock.getsockname()[1]}")
    server_state.rotate()
    config = uvicorn.Config(server_state.app(), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
