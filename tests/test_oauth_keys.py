"""The resource server's view of an authorization server, in-process against a real one on
loopback: metadata discovery, the key cache and its expiry, introspection's bounded cache."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

import naftiko.adapters.auth_introspection as introspection
from naftiko.adapters.auth_introspection import validator
from naftiko.adapters.auth_oauth import (
    KEYS_TTL,
    MAX_KEYS,
    MAX_STALE,
    RETRY_AFTER,
    AuthorityDown,
    KeySet,
    Metadata,
    Refused,
    Validator,
    discovery_urls,
)
from naftiko.engine.exposed import OAuthPolicy
from naftiko.engine.options import Timeouts
from naftiko.engine.transport import UpstreamResponse
from naftiko.engine.upstream import Upstreams
from tests.support.authserver import (
    INTROSPECTOR,
    AuthServer,
    free_port,
    new_key,
    serve_auth_server,
)
from tests.support.servers import Recorder, serve_app


@pytest.fixture(scope="module")
def authority() -> Iterator[AuthServer]:
    with serve_auth_server() as server:
        yield server


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    client = Upstreams({}, Timeouts(connect=2, total=5))
    await client.start()
    yield client
    await client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_metadata_is_looked_for_where_rfc_8414_and_openid_connect_put_it() -> None:
    assert discovery_urls("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]
    assert discovery_urls("https://as.example/tenant/") == [
        "https://as.example/.well-known/oauth-authorization-server/tenant",
        "https://as.example/.well-known/openid-configuration/tenant",
        "https://as.example/tenant/.well-known/openid-configuration",
    ]


async def test_keys_are_cached_until_their_lifetime_ends(
    authority: AuthServer, upstreams: Upstreams
) -> None:
    clock = Clock()
    keys = KeySet(Metadata(authority.issuer, upstreams), upstreams, clock)
    key = authority.keys[0]
    before = authority.count("jwks")
    await keys.find(key.kid, "RS256")
    clock.now += KEYS_TTL - 1
    await keys.find(key.kid, "RS256")
    assert authority.count("jwks") - before == 1
    clock.now += 1
    await keys.find(key.kid, "RS256")
    assert authority.count("jwks") - before == 2


async def test_a_key_is_only_used_with_the_algorithm_family_it_belongs_to(
    authority: AuthServer, upstreams: Upstreams
) -> None:
    keys = KeySet(Metadata(authority.issuer, upstreams), upstreams, Clock())
    rsa = authority.keys[0]
    assert (await keys.find(rsa.kid, "PS256")).algorithm_name == "PS256"
    with pytest.raises(Refused, match="not among the issuer's keys"):
        await keys.find(rsa.kid, "ES256")


async def test_an_authorization_server_that_is_down_is_reported_not_trusted(
    upstreams: Upstreams,
) -> None:
    metadata = Metadata(f"http://127.0.0.1:{free_port()}", upstreams)
    with pytest.raises(AuthorityDown, match="unreachable"):
        await metadata.get("jwks_uri")


async def test_metadata_that_names_another_issuer_is_not_used(
    authority: AuthServer, upstreams: Upstreams
) -> None:
    # The same server under another name: its document names 127.0.0.1, not localhost.
    metadata = Metadata(authority.issuer.replace("127.0.0.1", "localhost"), upstreams)
    with pytest.raises(AuthorityDown, match="another issuer"):
        await metadata.get("jwks_uri")


async def test_a_failing_authorization_server_is_not_asked_again_for_a_few_seconds(
    upstreams: Upstreams,
) -> None:
    recorder = Recorder()

    async def broken(request: web.Request) -> web.Response:
        await recorder.record(request)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/{tail:.*}", broken)
    clock = Clock()
    with serve_app(app) as url:
        metadata = Metadata(url, upstreams, clock)
        for _ in range(3):
            with pytest.raises(AuthorityDown, match="answered 500"):
                await metadata.get("jwks_uri")
        asked = len(recorder.requests)
        clock.now += RETRY_AFTER
        with pytest.raises(AuthorityDown):
            await metadata.get("jwks_uri")
    assert asked == len(discovery_urls(url))  # one discovery for the three requests
    assert len(recorder.requests) == 2 * asked


async def test_keys_past_their_lifetime_serve_while_the_authorization_server_is_down(
    upstreams: Upstreams,
) -> None:
    # An outage of the issuer alone must not lock every caller out at the keys' next
    # refresh, but a key it withdrew must not be trusted for ever either.
    key = new_key("RSA")
    down = False

    async def well_known(request: web.Request) -> web.Response:
        if down:
            return web.Response(status=500)
        issuer = f"http://{request.host}"
        return web.json_response({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        if down:
            return web.Response(status=500)
        return web.json_response({"keys": [key.as_dict(private=False)]})

    app = web.Application()
    app.router.add_get("/.well-known/oauth-authorization-server", well_known)
    app.router.add_get("/jwks", jwks)
    clock = Clock()
    with serve_app(app) as url:
        keys = KeySet(Metadata(url, upstreams, clock), upstreams, clock)
        assert (await keys.find(key.kid, "RS256")).key_id == key.kid
        down = True
        clock.now += KEYS_TTL + 1  # both past their lifetime, the server answering 500
        assert (await keys.find(key.kid, "RS256")).key_id == key.kid
        clock.now += MAX_STALE
        with pytest.raises(AuthorityDown, match="the authorization server answered"):
            await keys.find(key.kid, "RS256")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "answered no JSON"),
        (b'{"issuer": NaN}', "answered no JSON"),
        (b'{"pad": "' + b"x" * 200_000 + b'"}', "larger than the 64 KiB limit"),
    ],
)
async def test_an_authorization_server_answering_hostile_json_is_down_not_a_crash(
    body: bytes, reason: str
) -> None:
    async def hostile(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hostile)
    upstreams = Upstreams({}, Timeouts(connect=2, total=5), max_body=64 * 1024)
    await upstreams.start()
    try:
        with serve_app(app) as url, pytest.raises(AuthorityDown, match=reason):
            await Metadata(url, upstreams).get("jwks_uri")
    finally:
        await upstreams.close()


def _introspecting(authority: AuthServer, upstreams: Upstreams) -> Validator:
    """The validator of an adapter whose opaque tokens `authority` introspects."""
    policy = OAuthPolicy(
        issuer=authority.issuer,
        audience="https://api.example/orders",
        resource=None,
        scopes=("orders:read",),
        validation="introspection",
        client_id=INTROSPECTOR[0],
        client_secret=INTROSPECTOR[1],
    )
    return validator(policy, upstreams)


async def test_concurrent_requests_with_one_new_opaque_token_introspect_it_once(
    authority: AuthServer, upstreams: Upstreams
) -> None:
    check = _introspecting(authority, upstreams)
    token = authority.opaque()
    before = authority.count("introspect")
    # A burst of one caller's requests, all before the first answer is cached.
    claims = await asyncio.gather(*(check.validate(token) for _ in range(50)))
    assert {c.subject for c in claims} == {"alice"}
    assert authority.count("introspect") - before == 1
    # A token the server says is inactive is refused to every one of them, and not cached.
    refused = await asyncio.gather(
        *(check.validate("never-issued") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Refused) for r in refused)
    assert authority.count("introspect") - before == 2


async def test_an_introspected_token_is_asked_about_again_after_a_minute(
    authority: AuthServer, upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cached until its own expiry (an hour here) a revoked token would be served for an hour.
    check = _introspecting(authority, upstreams)
    token = authority.opaque()
    before = authority.count("introspect")
    await check.validate(token)
    await check.validate(token)  # cached
    assert authority.count("introspect") - before == 1
    later = time.time() + introspection.CACHE_SECONDS + 1
    # The module's clock only (the authorization server's thread keeps the real one).
    monkeypatch.setattr(introspection, "time", SimpleNamespace(time=lambda: later))
    await check.validate(token)
    assert authority.count("introspect") - before == 2


async def test_a_known_key_is_found_while_an_unknown_kid_waits_on_a_slow_key_set(
    upstreams: Upstreams,
) -> None:
    # One forged `kid` makes the keys be fetched again; a slow authorization server must not
    # hold every caller whose key is already known for that long.
    key = new_key("RSA")
    asked, release = threading.Event(), threading.Event()
    fetches = 0

    async def well_known(request: web.Request) -> web.Response:
        issuer = f"http://{request.host}"
        return web.json_response({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        nonlocal fetches
        fetches += 1
        if fetches > 1:
            asked.set()
            await asyncio.to_thread(release.wait, 10)
        return web.json_response({"keys": [key.as_dict(private=False)]})

    app = web.Application()
    app.router.add_get("/.well-known/oauth-authorization-server", well_known)
    app.router.add_get("/jwks", jwks)
    with serve_app(app) as url:
        keys = KeySet(Metadata(url, upstreams), upstreams)
        await keys.find(key.kid, "RS256")
        forged = asyncio.create_task(keys.find("forged", "RS256"))
        assert await asyncio.to_thread(asked.wait, 10)
        try:
            found = await asyncio.wait_for(keys.find(key.kid, "RS256"), 10)
        finally:
            release.set()
        assert found.key_id == key.kid
        with pytest.raises(Refused):
            await forged


async def test_only_the_first_hundred_published_keys_are_looked_through(
    upstreams: Upstreams, caplog: pytest.LogCaptureFixture
) -> None:
    # A key set of thousands (a hostile or broken issuer, up to --max-upstream-body) would be
    # scanned for every token, on the event loop.
    first, last = new_key("EC"), new_key("EC")
    published = [first.as_dict(private=False)]
    published += [{**published[0], "kid": f"filler-{i}"} for i in range(MAX_KEYS + 400)]
    published.append(last.as_dict(private=False))

    async def well_known(request: web.Request) -> web.Response:
        issuer = f"http://{request.host}"
        return web.json_response({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": published})

    app = web.Application()
    app.router.add_get("/.well-known/oauth-authorization-server", well_known)
    app.router.add_get("/jwks", jwks)
    with serve_app(app) as url:
        keys = KeySet(Metadata(url, upstreams), upstreams, Clock())
        assert (await keys.find(first.kid, "ES256")).key_id == first.kid
        with pytest.raises(Refused, match="not among the issuer's keys"):
            await keys.find(last.kid, "ES256")
    assert f"publishes {MAX_KEYS + 402} keys: the first {MAX_KEYS} are used" in caplog.text


class _Documents:
    """An authorization server as the resource server's client sees it: each URL answers
    its JSON document (the authority seam, as the in-memory transport is the upstream's)."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.asked: list[str] = []

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse:
        self.asked.append(url)
        body = json.dumps(self.documents.get(url, {})).encode()
        headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
        return UpstreamResponse(200 if url in self.documents else 404, headers, body)


@pytest.mark.parametrize("field", ["jwks_uri", "introspection_endpoint"])
async def test_an_https_issuer_naming_a_plain_http_endpoint_is_not_followed(field: str) -> None:
    issuer = "https://as.example"
    metadata = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "introspection_endpoint": f"{issuer}/introspect",
        field: "http://as.example/" + field,
    }
    authority = _Documents({f"{issuer}/.well-known/oauth-authorization-server": metadata})
    with pytest.raises(AuthorityDown, match=f"names a plain-http {field}"):
        await Metadata(issuer, authority).get(field)
    assert authority.asked == [f"{issuer}/.well-known/oauth-authorization-server"]
