"""OAuth2 client-credentials tokens for a consumed namespace: asked for once, however many
calls need one at the same moment."""

from __future__ import annotations

import asyncio
from typing import Any

from naftiko.engine.auth import OAuth2Tokens
from naftiko.engine.scope import Scope
from naftiko.model import OAuth2Auth
from naftiko.spec.bindings import Bindings

AUTH = OAuth2Auth(
    type="oauth2",
    tokenEndpoint="https://as.example/token",
    clientId="client-1",
    clientSecret="secret-1",
)


async def test_a_burst_of_calls_without_a_token_asks_the_authorization_server_once() -> None:
    asked: list[dict[str, str]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def fetch(endpoint: str, form: dict[str, str]) -> dict[str, Any]:
        asked.append(form)
        started.set()
        await release.wait()  # the authorization server takes its time
        return {"access_token": "token-1", "expires_in": 3600}

    tokens = OAuth2Tokens(fetch)
    scope = Scope({}, Bindings())
    calls = [asyncio.create_task(tokens.token("api", AUTH, scope)) for _ in range(20)]
    # Every call has run up to its first wait once the first fetch has begun (the loop
    # runs ready tasks in order), so a second fetch would have begun too.
    await started.wait()
    release.set()
    assert await asyncio.gather(*calls) == ["token-1"] * 20
    assert len(asked) == 1
    assert await tokens.token("api", AUTH, scope) == "token-1"  # then from the cache
    assert len(asked) == 1
