"""Digest-protected adapters (RFC 7616) driven by httpx's own Digest client, and the OpenAPI
security scheme declared for every kind of adapter authentication."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.adapters.auth_digest import NONCE_SECONDS, DigestVerifier, parse_params
from naftiko.adapters.openapi import openapi_document
from naftiko.runtime import build
from naftiko.settings import Settings
from tests.support.problems import problem_body
from tests.support.specs import ORDERS_REST, write_capability

DIGEST = {"type": "digest", "username": "ops", "password": "s3cret"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    spec = write_capability(tmp_path, {**ORDERS_REST, "authentication": DIGEST})
    (served,) = build([spec], Settings(), {}).served
    transport = httpx.ASGITransport(app=served.adapter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


async def test_a_digest_client_is_admitted_with_sha_256(http: httpx.AsyncClient) -> None:
    auth = httpx.DigestAuth("ops", "s3cret")
    for _ in range(3):  # the first answers a challenge; the next reuse its nonce, counting up
        response = await http.get("/orders", params={"page": "1"}, auth=auth)
        assert (response.status_code, response.json()) == (200, {"count": 2})


async def test_a_client_that_only_knows_md5_is_admitted(http: httpx.AsyncClient) -> None:
    async def only_md5(response: httpx.Response) -> None:
        challenges = response.headers.get_list("www-authenticate")
        if not challenges:
            return
        del response.headers["www-authenticate"]
        for challenge in challenges:
            if "algorithm=MD5" in challenge:
                response.headers["www-authenticate"] = challenge

    http.event_hooks["response"] = [only_md5]
    response = await http.get("/orders", auth=httpx.DigestAuth("ops", "s3cret"))
    assert response.json() == {"count": 2}
    assert "algorithm=MD5" in response.request.headers["authorization"]


async def test_a_wrong_password_is_challenged_again_with_both_algorithms(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/orders", auth=httpx.DigestAuth("ops", "guess"))
    problem_body(response, 401)
    sha, md5 = response.headers.get_list("www-authenticate")
    assert parse_params(sha.removeprefix("Digest "))["algorithm"] == "SHA-256"
    assert parse_params(md5.removeprefix("Digest "))["algorithm"] == "MD5"
    assert parse_params(sha.removeprefix("Digest "))["qop"] == "auth"


async def test_a_replayed_authorization_header_is_refused(http: httpx.AsyncClient) -> None:
    admitted = await http.get("/orders", auth=httpx.DigestAuth("ops", "s3cret"))
    header = admitted.request.headers["authorization"]
    replayed = await http.get("/orders", headers={"Authorization": header})
    problem_body(replayed, 401)


async def test_an_answer_for_another_uri_is_refused(http: httpx.AsyncClient) -> None:
    admitted = await http.get("/orders", auth=httpx.DigestAuth("ops", "s3cret"))
    header = admitted.request.headers["authorization"].replace("nc=00000001", "nc=00000002")
    problem_body(await http.get("/orders?all=1", headers={"Authorization": header}), 401)


def _answer(challenge: str, user: str, password: str, uri: str, nc: str = "00000001") -> str:
    params = parse_params(challenge.removeprefix("Digest "))
    name = {"SHA-256": "sha256", "MD5": "md5"}[params["algorithm"]]

    def h(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    ha1, ha2 = h(f"{user}:{params['realm']}:{password}"), h(f"GET:{uri}")
    response = h(f"{ha1}:{params['nonce']}:{nc}:abc:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", algorithm={params["algorithm"]}, qop=auth, nc={nc}, cnonce="abc", '
        f'response="{response}"'
    )


def test_an_expired_nonce_is_reported_stale_so_the_client_can_retry() -> None:
    now = [1000.0]
    verifier = DigestVerifier("ops", "s3cret", clock=lambda: now[0])
    sha, _ = verifier.challenges()
    assert verifier.verify(_answer(sha, "ops", "s3cret", "/orders"), "GET", "/orders") is True
    now[0] += NONCE_SECONDS + 1
    late = _answer(sha, "ops", "s3cret", "/orders", nc="00000002")
    assert verifier.verify(late, "GET", "/orders") is None
    assert verifier.challenges(stale=True)[0].endswith(", stale=true")


def test_a_nonce_we_never_issued_is_refused() -> None:
    verifier = DigestVerifier("ops", "s3cret")
    forged = 'Digest realm="naftiko", qop="auth", algorithm=MD5, nonce="MTIzNDU2Nzg5MA"'
    assert verifier.verify(_answer(forged, "ops", "s3cret", "/"), "GET", "/") is False


@pytest.mark.parametrize(
    ("auth", "scheme", "scopes"),
    [
        ({"type": "bearer", "token": "t0ken"}, {"type": "http", "scheme": "bearer"}, []),
        (
            {"type": "basic", "username": "ops", "password": "pw"},
            {"type": "http", "scheme": "basic"},
            [],
        ),
        (DIGEST, {"type": "http", "scheme": "digest"}, []),
        (
            {"type": "apikey", "key": "X-Key", "value": "v4lue", "placement": "header"},
            {"type": "apiKey", "name": "X-Key", "in": "header"},
            [],
        ),
        (
            {
                "type": "oauth2",
                "authorizationServerUri": "https://as.example",
                "tokenEndpoint": "https://as.example/oauth/token",
                "audience": "orders",
                "scopes": ["orders:read"],
            },
            {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://as.example/oauth/token",
                        "scopes": {"orders:read": "orders:read"},
                    }
                },
            },
            ["orders:read"],
        ),
    ],
    ids=["bearer", "basic", "digest", "apikey", "oauth2"],
)
def test_the_openapi_document_declares_each_kind_of_authentication(
    tmp_path: Path, auth: dict[str, Any], scheme: dict[str, Any], scopes: list[str]
) -> None:
    spec = write_capability(tmp_path, {**ORDERS_REST, "authentication": auth})
    (served,) = build([spec], Settings(), {}).served
    document = openapi_document(served.adapter.plan)
    assert document["components"]["securitySchemes"] == {"adapterAuth": scheme}
    assert document["security"] == [{"adapterAuth": scopes}]
