"""Adapters protected by `authentication: {type: oauth2}`: a real authorization server on
loopback issues (and introspects) the tokens; the runtime `naftiko run` builds, served by its
listeners in a thread (tests/support/threaded.py), is the resource server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from joserfc.jwk import RSAKey
from pydantic import AnyUrl

from naftiko.errors import SpecError
from naftiko.spec.loader import load
from tests.support.authserver import (
    INTROSPECTOR,
    AuthServer,
    free_port,
    hmac_with_public_key,
    new_key,
    serve_auth_server,
    unsigned,
)
from tests.support.echo import echo_app
from tests.support.groq import TOKEN, batch
from tests.support.mcp_client import MODES, rpc
from tests.support.problems import problem_body
from tests.support.servers import Recorder, serve_app
from tests.support.specs import ORDERS_REST, seed_for
from tests.support.threaded import Gateway as Served
from tests.support.threaded import naftiko_thread
from tests.support.yamlio import dump_yaml

if TYPE_CHECKING:
    # The MCP SDK is imported by the test that drives its client, not at collection.
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

RESOURCE = "https://api.example/orders"
PRM_URL = "https://api.example/.well-known/oauth-protected-resource/orders"
NO_TOKEN = f'Bearer scope="orders:read", resource_metadata="{PRM_URL}"'


def _invalid(description: str) -> str:
    return (
        f'Bearer error="invalid_token", error_description="{description}", '
        f'resource_metadata="{PRM_URL}"'
    )


def _oauth(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "authorizationServerUri": issuer,
        "resource": RESOURCE,
        "scopes": ["orders:read"],
        **extra,
    }


def _rest(namespace: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {**ORDERS_REST, "namespace": namespace, "authentication": auth}


@pytest.fixture(scope="module")
def authority() -> Iterator[AuthServer]:
    with serve_auth_server() as server:
        # Three key types published at once; the RSA key signs unless a test says otherwise.
        server.keys += [new_key("EC"), new_key("OKP")]
        yield server


@pytest.fixture(scope="module")
def rotating() -> Iterator[AuthServer]:
    """A second authorization server, whose keys a test rotates."""
    with serve_auth_server() as server:
        yield server


@pytest.fixture(scope="module")
def seed_port() -> int:
    """The seed's MCP port, fixed before start: its resource identifier names it."""
    return free_port()


@pytest.fixture(scope="module")
def gateway(
    authority: AuthServer,
    rotating: AuthServer,
    seed_port: int,
    groq_upstream: tuple[str, Recorder],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    issuer = authority.issuer
    introspected = _oauth(
        issuer,
        tokenValidation="introspection",
        clientId="{{RS_CLIENT_ID}}",
        clientSecret="{{RS_CLIENT_SECRET}}",
    )
    exposes = [
        _rest("orders-rest", _oauth(issuer)),
        _rest("orders-introspected", introspected),
        _rest("orders-rotating", _oauth(rotating.issuer)),
        _rest("orders-down", _oauth(f"http://127.0.0.1:{free_port()}")),
        {
            "type": "mcp",
            "namespace": "orders-mcp",
            "port": 0,
            "authentication": _oauth(issuer),
            "tools": [{"name": "ping", "description": "ping", "outputParameters": []}],
        },
        {
            "type": "skill",
            "namespace": "orders-skills",
            "port": 0,
            "authentication": _oauth(issuer),
            "skills": [],
        },
        {
            "type": "control",
            "port": 0,
            "authentication": _oauth(issuer),
            "management": {"health": True},
        },
    ]
    document = {
        "naftiko": "1.0.0-alpha2",
        "binds": [
            {
                "namespace": "introspection",
                "keys": {"RS_CLIENT_ID": "RS_CLIENT_ID", "RS_CLIENT_SECRET": "RS_CLIENT_SECRET"},
            }
        ],
        "capability": {"exposes": exposes},
    }
    folder = tmp_path_factory.mktemp("oauth")
    spec = folder / "oauth.yaml"
    spec.write_text(dump_yaml(document, sort_keys=False))
    # The seed, its MCP adapter protected by oauth2 as a remote deployment would be.
    seed_auth = {
        "type": "oauth2",
        "authorizationServerUri": issuer,
        "resource": f"http://127.0.0.1:{seed_port}/mcp",
        "scopes": ["batches"],
    }
    seed = seed_for(groq_upstream[0], folder, mcp={"port": seed_port, "authentication": seed_auth})
    env = {
        "RS_CLIENT_ID": INTROSPECTOR[0],
        "RS_CLIENT_SECRET": INTROSPECTOR[1],
        "GROQ_API_KEY": TOKEN,
    }
    with (
        naftiko_thread(spec, seed, env=env) as running,
        httpx.Client(timeout=10) as http,
    ):
        yield Gateway(running, http)


@dataclass
class Gateway:
    running: Served
    http: httpx.Client

    def url(self, namespace: str) -> str:
        return self.running.url(namespace)

    def get(self, namespace: str, token: str | None, path: str = "/orders") -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.get(self.url(namespace) + path, headers=headers)


def _refused(response: httpx.Response, status: int) -> str:
    assert problem_body(response, status)["status"] == status
    challenge: str = response.headers["www-authenticate"]
    return challenge


def test_a_token_signed_by_the_issuer_for_this_resource_is_admitted(
    gateway: Gateway, authority: AuthServer
) -> None:
    response = gateway.get("orders-rest", authority.mint(aud=[RESOURCE, "other"]))
    assert (response.status_code, response.json()) == (200, {"count": 2})


@pytest.mark.parametrize("kind", ["RSA", "EC", "OKP"], ids=["RS256", "ES256", "EdDSA"])
def test_each_asymmetric_algorithm_is_accepted(
    gateway: Gateway, authority: AuthServer, kind: str
) -> None:
    (key,) = [k for k in authority.keys if k.key_type == kind]
    assert gateway.get("orders-rest", authority.mint(key=key)).status_code == 200


def test_scopes_may_come_as_an_scp_list(gateway: Gateway, authority: AuthServer) -> None:
    token = authority.mint(scope=None, scp=["orders:write", "orders:read"])
    assert gateway.get("orders-rest", token).status_code == 200


def test_a_request_without_a_token_is_challenged_towards_the_metadata(gateway: Gateway) -> None:
    assert _refused(gateway.get("orders-rest", None), 401) == NO_TOKEN


def _now() -> int:
    return int(time.time())


# token case → (status, WWW-Authenticate); the matrix of refusals
REFUSALS: dict[str, tuple[int, str]] = {
    "wrong audience": (401, _invalid("the token is meant for another audience")),
    "wrong issuer": (401, _invalid("the token comes from another issuer")),
    "expired": (401, _invalid("the token has expired")),
    "not yet valid": (401, _invalid("the token is not valid yet")),
    "bad signature": (401, _invalid("the token's signature does not verify")),
    "unknown kid": (401, _invalid("the token's key is not among the issuer's keys")),
    "alg none": (401, _invalid("the token's algorithm is not accepted")),
    "HS256 keyed with the public key": (401, _invalid("the token's algorithm is not accepted")),
    "alg not a string": (401, _invalid("the token's algorithm is not accepted")),
    "no exp": (401, _invalid("the token is malformed or incomplete")),
    "not a JWT": (401, _invalid("the token is not a JWT")),
    "missing scope": (
        403,
        'Bearer error="insufficient_scope", error_description="the token lacks a required '
        f'scope", scope="orders:read", resource_metadata="{PRM_URL}"',
    ),
}


def _token(case: str, authority: AuthServer) -> str:
    good = {"iss": authority.issuer, "aud": RESOURCE, "exp": _now() + 300, "sub": "alice"}
    published = authority.keys[0]
    assert isinstance(published, RSAKey)  # the fixture publishes RSA first
    tokens: dict[str, Callable[[], str]] = {
        "wrong audience": lambda: authority.mint(aud="https://api.example/other"),
        "wrong issuer": lambda: authority.mint(iss="https://evil.example"),
        "expired": lambda: authority.mint(exp=_now() - 120),
        "not yet valid": lambda: authority.mint(nbf=_now() + 120),
        # A key the issuer never published, under the kid of one it did.
        "bad signature": lambda: authority.mint(key=new_key("RSA"), kid=published.kid),
        "unknown kid": lambda: authority.mint(key=new_key("RSA")),
        "alg none": lambda: unsigned(good),
        "HS256 keyed with the public key": lambda: hmac_with_public_key(published, good),
        # An unhashable `alg` is looked up in no table: a refusal, never a 500.
        "alg not a string": lambda: unsigned(good, alg=["RS256"]),
        "no exp": lambda: authority.mint(exp=None),
        "not a JWT": lambda: "not-a-jwt",
        "missing scope": lambda: authority.mint(scope="orders:write"),
    }
    return tokens[case]()


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_unacceptable_token_is_refused_with_its_status_and_challenge(
    gateway: Gateway, authority: AuthServer, case: str
) -> None:
    status, challenge = REFUSALS[case]
    assert _refused(gateway.get("orders-rest", _token(case, authority)), status) == challenge


def test_a_key_named_by_the_token_itself_is_never_fetched_nor_used(
    gateway: Gateway, authority: AuthServer
) -> None:
    # `jku`, `x5u` and an embedded `jwk` point at the attacker's own key: a verifier that
    # followed them would accept any token. Only the issuer's published keys count.
    recorder = Recorder()
    attacker = new_key("RSA")
    with serve_app(echo_app(recorder)) as elsewhere:
        header = {
            "kid": authority.keys[0].kid,
            "jku": f"{elsewhere}/jwks",
            "x5u": f"{elsewhere}/cert.pem",
            "jwk": attacker.as_dict(private=False),
        }
        response = gateway.get("orders-rest", authority.mint_with_header(attacker, header))
    assert _refused(response, 401) == _invalid("the token's signature does not verify")
    assert recorder.requests == []


def test_a_flood_of_unknown_kids_refetches_the_keys_at_most_once(
    gateway: Gateway, authority: AuthServer
) -> None:
    assert gateway.get("orders-rest", authority.mint()).status_code == 200
    before = authority.count("jwks")
    for _ in range(5):
        assert gateway.get("orders-rest", authority.mint(key=new_key("EC"))).status_code == 401
    assert authority.count("jwks") - before <= 1


def test_a_rotated_signing_key_is_picked_up_without_restart(
    gateway: Gateway, rotating: AuthServer
) -> None:
    assert gateway.get("orders-rotating", rotating.mint()).status_code == 200
    old = rotating.mint()
    rotating.rotate("EC")
    assert gateway.get("orders-rotating", rotating.mint()).status_code == 200
    # The retired key is no longer published: its tokens stop being accepted.
    assert _refused(gateway.get("orders-rotating", old), 401).startswith(
        'Bearer error="invalid_token"'
    )


def test_the_protected_resource_metadata_is_served_without_credentials(
    gateway: Gateway, authority: AuthServer
) -> None:
    expected = {
        "resource": RESOURCE,
        "authorization_servers": [authority.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["orders:read"],
    }
    for namespace in ("orders-rest", "orders-mcp", "orders-skills", "control"):
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/orders",
        ):
            response = gateway.get(namespace, None, path)
            assert (response.status_code, response.json()) == (200, expected)


def test_the_mcp_skill_and_control_adapters_answer_the_same_statuses(
    gateway: Gateway, authority: AuthServer
) -> None:
    good, narrow = authority.mint(), authority.mint(scope="orders:write")
    mcp = gateway.url("orders-mcp") + "/mcp"
    for token, status in ((None, 401), (narrow, 403), ("junk", 401)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert rpc(mcp, "tools/list", headers=headers).status_code == status
    listed = rpc(mcp, "tools/list", headers={"Authorization": f"Bearer {good}"})
    assert [t["name"] for t in listed.json()["result"]["tools"]] == ["ping"]
    assert _refused(gateway.get("orders-skills", None, "/skills"), 401) == NO_TOKEN
    assert gateway.get("orders-skills", narrow, "/skills").status_code == 403
    assert gateway.get("orders-skills", good, "/skills").json() == {"count": 0, "skills": []}
    assert _refused(gateway.get("control", None, "/health/live"), 401) == NO_TOKEN
    assert gateway.get("control", good, "/health/live").json() == {"status": "UP"}


def test_an_opaque_token_is_introspected_once_and_then_served_from_the_cache(
    gateway: Gateway, authority: AuthServer
) -> None:
    token = authority.opaque()
    before = authority.count("introspect")
    for _ in range(3):
        assert gateway.get("orders-introspected", token).json() == {"count": 2}
    assert authority.count("introspect") - before == 1


@pytest.mark.parametrize(
    ("claims", "status", "error"),
    [
        ({"active": False}, 401, "invalid_token"),
        ({"aud": "https://api.example/other"}, 401, "invalid_token"),
        ({"iss": "https://evil.example"}, 401, "invalid_token"),
        ({"exp": 1}, 401, "invalid_token"),
        ({"scope": "orders:write"}, 403, "insufficient_scope"),
    ],
    ids=["inactive", "wrong audience", "wrong issuer", "expired", "missing scope"],
)
def test_introspection_refuses_what_the_authorization_server_does_not_vouch_for(
    gateway: Gateway, authority: AuthServer, claims: dict[str, Any], status: int, error: str
) -> None:
    response = gateway.get("orders-introspected", authority.opaque(**claims))
    assert f'error="{error}"' in _refused(response, status)


def test_an_unknown_opaque_token_is_refused(gateway: Gateway) -> None:
    assert gateway.get("orders-introspected", "never-issued").status_code == 401


def test_an_unreachable_authorization_server_fails_closed_with_503(
    gateway: Gateway, authority: AuthServer
) -> None:
    response = gateway.get("orders-down", authority.mint())
    assert problem_body(response, 503)["title"] == "Service Unavailable"
    assert "www-authenticate" not in response.headers
    assert "is unreachable" in gateway.running.log_line("refusing GET /orders")
    # Every caller with a token gets the same 503: the log says so once per interval, not
    # once per request (the access log has a line for each).
    for _ in range(3):
        assert gateway.get("orders-down", authority.mint()).status_code == 503
    assert gateway.running.log_line("orders-down GET /orders 503")
    assert sum("refusing GET /orders" in line for line in gateway.running.lines) == 1


def test_the_access_log_names_the_validated_caller(gateway: Gateway, authority: AuthServer) -> None:
    token = authority.mint(sub="bob", client_id="batch-agent", scope="orders:read extra")
    assert gateway.get("orders-rest", token).status_code == 200
    line = 'sub="bob" client_id="batch-agent" scope="orders:read extra"'
    assert gateway.running.log_line(line)


def test_an_oauth2_adapter_without_an_audience_or_resource_does_not_load(
    tmp_path: Path,
) -> None:
    auth = {"type": "oauth2", "authorizationServerUri": "https://as.example"}
    spec = tmp_path / "no-audience.yaml"
    document = {"naftiko": "1.0.0-alpha2", "capability": {"exposes": [_rest("r", auth)]}}
    spec.write_text(dump_yaml(document))
    with pytest.raises(SpecError, match="needs an `audience` or a `resource`"):
        load(spec)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("scopes", ['orders:read", error="x'], "is not an RFC 6749 scope token"),
        ("scopes", ["orders read"], "is not an RFC 6749 scope token"),
        ("scopes", ["orders\r\nX-Injected: 1"], "is not an RFC 6749 scope token"),
        ("resource", 'https://api.example/o"x', "is not an absolute http(s) URI"),
        ("resource", "https://api.example/o\nx", "is not an absolute http(s) URI"),
        ("authorizationServerUri", "as.example", "is not an absolute http(s) URI"),
    ],
)
def test_an_oauth2_value_that_would_break_the_challenge_header_does_not_load(
    tmp_path: Path, field: str, value: Any, reason: str
) -> None:
    # Scopes and the resource are written into every 401's WWW-Authenticate as quoted
    # strings: a quote or a line break there would forge parameters or headers.
    auth = {**_oauth("https://as.example"), field: value}
    spec = tmp_path / "challenge.yaml"
    document = {"naftiko": "1.0.0-alpha2", "capability": {"exposes": [_rest("r", auth)]}}
    spec.write_text(dump_yaml(document))
    with pytest.raises(SpecError, match=re.escape(reason)) as refused:
        load(spec)
    assert f"authentication.{field}" in str(refused.value)


class _Memory:
    """The MCP client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class _Browser:
    """The user agent: follows the authorization URL and hands the code back (the test
    authorization server consents at once)."""

    def __init__(self) -> None:
        self.redirect: str = ""

    async def open(self, url: str) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(url)
        assert answer.status_code in (302, 303, 307), answer.text
        self.redirect = answer.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        from mcp.shared.auth import AuthorizationCodeResult

        query = parse_qs(urlsplit(self.redirect).query)
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])


@pytest.mark.parametrize("mode", MODES)
async def test_the_mcp_sdk_client_authorizes_through_the_metadata_and_calls_a_seed_tool(
    gateway: Gateway,
    authority: AuthServer,
    seed_port: int,
    recorder: Recorder,
    mode: str,
) -> None:
    from mcp import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata

    endpoint = f"http://127.0.0.1:{seed_port}/mcp"
    browser, storage = _Browser(), _Memory()
    provider = OAuthClientProvider(
        server_url=endpoint,
        client_metadata=OAuthClientMetadata(
            client_name="naftiko tests",
            redirect_uris=[AnyUrl("http://127.0.0.1:9/callback")],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    async with httpx.AsyncClient(auth=provider, timeout=10) as http:
        transport = streamable_http_client(endpoint, http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            listed = await client.list_tools()
            result = await client.call_tool("retrieves-batch", {"batch_id": "batch_42"})
    assert "retrieves-batch" in [t.name for t in listed.tools]
    assert (result.is_error, result.structured_content) == (False, batch("batch_42"))
    # The caller's token stayed at the gateway; the upstream got the bound key.
    (sent,) = recorder.requests
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    # Dynamic registration, PKCE and RFC 8707: the token was minted for this very resource.
    assert storage.client is not None and storage.client.client_id in authority.clients
    assert authority.issued[-1]["aud"] == endpoint
    assert authority.issued[-1]["scope"] == "batches"
    entry = f'sub="alice" client_id="{storage.client.client_id}" scope="batches"'
    assert gateway.running.log_line(entry)
