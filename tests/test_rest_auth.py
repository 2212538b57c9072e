"""REST adapter authentication: bearer, API key and basic, each checked before anything runs
(the adapters served in-process: tests/support/inprocess.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from naftiko.errors import NaftikoError, SpecError
from naftiko.runtime import build
from naftiko.settings import Settings
from naftiko.spec.loader import load
from tests.support.inprocess import serving
from tests.support.problems import problem_body
from tests.support.yamlio import dump_yaml

SECRET = "s3cret-for-callers"
GUARDS = {
    "bearer-rest": {"type": "bearer", "token": "{{REST_SECRET}}"},
    "apikey-rest": {"type": "apikey", "key": "X-Api-Key", "value": "{{REST_SECRET}}"},
    "query-rest": {
        "type": "apikey",
        "key": "key",
        "value": "{{REST_SECRET}}",
        "placement": "query",
    },
    "basic-rest": {"type": "basic", "username": "ops", "password": "{{REST_SECRET}}"},
}


def _adapter(namespace: str, auth: dict[str, str]) -> dict[str, Any]:
    operation = {
        "method": "GET",
        "outputParameters": [{"name": "ok", "type": "boolean", "value": "true"}],
    }
    return {
        "type": "rest",
        "namespace": namespace,
        "port": 0,
        "authentication": auth,
        "resources": [{"path": "/ping", "operations": [operation]}],
    }


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tmp_path_factory.mktemp("auth") / "auth.yaml"
    document = {
        "naftiko": "1.0.0-alpha2",
        "binds": [{"namespace": "env", "keys": {"REST_SECRET": "REST_SECRET"}}],
        "capability": {"exposes": [_adapter(ns, auth) for ns, auth in GUARDS.items()]},
    }
    spec.write_text(dump_yaml(document))
    return spec


@asynccontextmanager
async def _client(spec: Path, namespace: str) -> AsyncIterator[httpx.AsyncClient]:
    env = {"REST_SECRET": SECRET}
    async with serving(spec, env=env) as gateway, gateway.client(namespace) as client:
        yield client


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("namespace", "good", "bad"),
    [
        (
            "bearer-rest",
            {"headers": {"Authorization": f"Bearer {SECRET}"}},
            {"headers": {"Authorization": "Bearer nope"}},
        ),
        (
            "apikey-rest",
            {"headers": {"X-Api-Key": SECRET}},
            {"headers": {"X-Api-Key": SECRET + "x"}},
        ),
        ("query-rest", {"params": {"key": SECRET}}, {"params": {"key": "{{REST_SECRET}}"}}),
        (
            "basic-rest",
            {"headers": {"Authorization": _basic("ops", SECRET)}},
            {"headers": {"Authorization": _basic("root", SECRET)}},
        ),
    ],
)
async def test_each_guard_admits_its_secret_and_refuses_anything_else(
    spec: Path, namespace: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    async with _client(spec, namespace) as client:
        assert (await client.get("/ping", **good)).json() == {"ok": True}
        refused = await client.get("/ping", **bad)
        assert problem_body(refused, 401)["title"] == "Unauthorized"
        assert SECRET not in refused.text
        assert problem_body(await client.get("/ping"), 401)["status"] == 401


async def test_the_openapi_document_is_guarded_and_declares_the_security_scheme(
    spec: Path,
) -> None:
    async with _client(spec, "bearer-rest") as client:
        assert (await client.get("/openapi.json")).status_code == 401
        granted = await client.get("/openapi.json", headers={"Authorization": f"Bearer {SECRET}"})
    document = granted.json()
    assert document["components"]["securitySchemes"]["adapterAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }


def test_an_unbound_adapter_secret_stops_startup(tmp_path: Path) -> None:
    spec = tmp_path / "unbound.yaml"
    document = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "exposes": [_adapter("bearer-rest", {"type": "bearer", "token": "{{NOPE}}"})]
        },
    }
    spec.write_text(dump_yaml(document))
    with pytest.raises(NaftikoError, match="variable NOPE is not set"):
        build([spec], Settings(), {})


_OAUTH = {"type": "oauth2", "authorizationServerUri": "https://as.example"}


@pytest.mark.parametrize(
    ("auth", "where", "reason"),
    [
        (
            {**_OAUTH, "resource": "https://r.example/o", "tokenValidation": "introspection"},
            "authentication",
            "`tokenValidation: introspection` needs a `clientId` to ask the issuer",
        ),
        (
            {**_OAUTH, "authorizationServerUri": "https://as.example/t?x=1", "audience": "a"},
            "authentication.authorizationServerUri",
            "has a query or fragment (RFC 8414 allows none)",
        ),
        (
            {"type": "apikey", "key": "X Api:Key", "value": "v"},
            "authentication.key",
            "header name 'X Api:Key' is not an HTTP token",
        ),
        (
            {"type": "basic", "username": "al:ice", "password": "p"},
            "authentication.username",
            "username 'al:ice' holds a ':', which no credentials can carry",
        ),
    ],
    ids=["introspection without client", "issuer with a query", "header name", "basic user"],
)
def test_adapter_credentials_no_caller_could_meet_are_refused_at_load(
    tmp_path: Path, auth: dict[str, str], where: str, reason: str
) -> None:
    # Each would load, then refuse every caller (or, for introspection, stop `run` only,
    # with no field named): `validate` says why, where.
    spec = tmp_path / "guard.yaml"
    document = {"naftiko": "1.0.0-alpha2", "capability": {"exposes": [_adapter("g", auth)]}}
    spec.write_text(dump_yaml(document))
    with pytest.raises(SpecError) as refused:
        load(spec)
    assert f"capability.exposes[0].{where}: " in str(refused.value)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("namespace", "challenge"),
    [
        ("bearer-rest", "Bearer"),
        ("basic-rest", 'Basic realm="naftiko", charset="UTF-8"'),
        ("apikey-rest", None),
        ("query-rest", None),
    ],
)
async def test_a_401_challenges_with_the_scheme_of_the_adapters_own_guard(
    spec: Path, namespace: str, challenge: str | None
) -> None:
    async with _client(spec, namespace) as client:
        refused = await client.get("/ping")
    assert (refused.status_code, refused.headers.get("www-authenticate")) == (401, challenge)
