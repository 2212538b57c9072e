"""A recording upstream that answers with what it received, plus fixed-format documents
and endpoints behind basic, digest and OAuth2 credentials."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from tests.support.servers import Recorder

USER, PASSWORD, REALM, NONCE = "alice", "s3cret-pass", "naftiko-test", "abc123nonce"
CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN = "client-1", "client-secret-1", "access-token-xyz"

XML = (
    b"<ships><ship><imo>1</imo><tonnage>500</tonnage></ship>"
    b"<ship><imo>2</imo><tonnage>900</tonnage></ship></ships>"
)
CSV = b"imo,name\n1,Aurora\n2,Borealis\n"


async def _echo(request: web.Request, recorder: Recorder) -> web.Response:
    seen = await recorder.record(request)
    body: Any = seen.body.decode("utf-8", errors="replace")
    return web.json_response(
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


def echo_app(recorder: Recorder) -> web.Application:
    tokens_issued: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        return await _echo(request, recorder)

    async def xml(request: web.Request) -> web.Response:
        await recorder.record(request)
        return web.Response(body=XML, content_type="application/xml")

    async def csv(request: web.Request) -> web.Response:
        await recorder.record(request)
        return web.Response(body=CSV, content_type="text/csv")

    async def basic(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        import base64

        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if auth != expected:
            await recorder.record(request)
            return web.json_response({"error": "bad basic"}, status=401)
        return await _echo(request, recorder)

    async def digest(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Digest "):
            await recorder.record(request)
            challenge = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
            return web.json_response(
                {"error": "digest"}, status=401, headers={"WWW-Authenticate": challenge}
            )
        fields = dict(part.strip().split("=", 1) for part in auth[7:].split(",") if "=" in part)
        f = {k: v.strip('"') for k, v in fields.items()}
        ha1 = _h(f"{USER}:{REALM}:{PASSWORD}")
        ha2 = _h(f"{request.method}:{f['uri']}")
        expected = _h(f"{ha1}:{NONCE}:{f['nc']}:{f['cnonce']}:auth:{ha2}")
        if f.get("response") != expected:
            await recorder.record(request)
            return web.json_response({"error": "bad digest"}, status=401)
        return await _echo(request, recorder)

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        await recorder.record(request)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        tokens_issued.append(ACCESS_TOKEN)
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 3600})

    async def oauth(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return web.json_response({"error": "no token"}, status=401)
        return await _echo(request, recorder)

    app = web.Application()
    app.router.add_get("/xml", xml)
    app.router.add_get("/csv", csv)
    app.router.add_route("*", "/basic/{tail:.*}", basic)
    app.router.add_route("*", "/digest/{tail:.*}", digest)
    app.router.add_post("/oauth/token", token)
    app.router.add_route("*", "/oauth/api/{tail:.*}", oauth)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app
