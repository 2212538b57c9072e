"""A recording upstream that answers with what it received, plus fixed-format documents
and endpoints behind basic, digest and OAuth2 credentials: one `answer` function, served on
loopback by `echo_app` or in memory by `RecordingTransport(answer)`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.servers import Recorded, Recorder
from tests.support.transport import Reply

USER, PASSWORD, REALM, NONCE = "alice", "s3cret-pass", "naftiko-test", "abc123nonce"
CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN = "client-1", "client-secret-1", "access-token-xyz"

XML = (
    b"<ships><ship><imo>1</imo><tonnage>500</tonnage></ship>"
    b"<ship><imo>2</imo><tonnage>900</tonnage></ship></ships>"
)
CSV = b"imo,name\n1,Aurora\n2,Borealis\n"


def _echo(seen: Recorded) -> Reply:
    body: Any = seen.body.decode("utf-8", errors="replace")
    return Reply.json(
        {
            "method": seen.method,
            "raw_path": seen.raw_path,
            "query": seen.query,
            "headers": seen.headers,
            "body": body,
            "item": {"id": 7, "price": "12.50", "tags": ["a", "b"], "active": "true"},
            "list": [{"id": 1, "n": "x"}, {"id": 2, "n": "y"}],
        }
    )


def _h(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _basic(seen: Recorded) -> Reply:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if seen.headers.get("Authorization", "") != expected:
        return Reply.json({"error": "bad basic"}, 401)
    return _echo(seen)


def _digest(seen: Recorded) -> Reply:
    auth = seen.headers.get("Authorization", "")
    if not auth.startswith("Digest "):
        challenge = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
        return Reply.json({"error": "digest"}, 401, **{"WWW-Authenticate": challenge})
    fields = dict(part.strip().split("=", 1) for part in auth[7:].split(",") if "=" in part)
    f = {k: v.strip('"') for k, v in fields.items()}
    ha1 = _h(f"{USER}:{REALM}:{PASSWORD}")
    ha2 = _h(f"{seen.method}:{f['uri']}")
    expected = _h(f"{ha1}:{NONCE}:{f['nc']}:{f['cnonce']}:auth:{ha2}")
    if f.get("response") != expected:
        return Reply.json({"error": "bad digest"}, 401)
    return _echo(seen)


def _token(seen: Recorded) -> Reply:
    form = dict(parse_qsl(seen.body.decode()))
    if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
        return Reply.json({"error": "invalid_client"}, 401)
    return Reply.json({"access_token": ACCESS_TOKEN, "expires_in": 3600})


def _oauth(seen: Recorded) -> Reply:
    if seen.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        return Reply.json({"error": "no token"}, 401)
    return _echo(seen)


def answer(seen: Recorded) -> Reply:
    path = seen.path
    if (seen.method, path) == ("GET", "/xml"):
        return Reply(body=XML, content_type="application/xml")
    if (seen.method, path) == ("GET", "/csv"):
        return Reply(body=CSV, content_type="text/csv")
    if path.startswith("/basic/"):
        return _basic(seen)
    if path.startswith("/digest/"):
        return _digest(seen)
    if (seen.method, path) == ("POST", "/oauth/token"):
        return _token(seen)
    if path.startswith("/oauth/api/"):
        return _oauth(seen)
    if path == "/items/redirect":  # an open redirect: to wherever the query says
        return Reply(302, b"", headers={"Location": dict(parse_qsl(seen.query)).get("q", "")})
    if path.endswith("/located"):  # a created resource, wherever the query says it is
        return Reply(201, b"", headers={"Location": dict(parse_qsl(seen.query)).get("q", "")})
    if path == "/items/loop":
        return Reply(302, b"", headers={"Location": "/items/loop"})
    return _echo(seen)


def echo_app(recorder: Recorder) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        reply = answer(await recorder.record(request))
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers={**reply.headers, "Content-Type": reply.content_type},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
