"""`upstream_call.Pool`, what `Upstreams.send` sends with: the bytes a loopback server
receives, and what it makes of the bytes it is answered with."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from naftiko.engine.network import Network, Proxy
from naftiko.engine.options import Timeouts
from naftiko.engine.upstream import Upstreams
from naftiko.engine.upstream_call import Answer, Pool
from naftiko.errors import UpstreamUnavailable
from tests.support.servers import serve_app

_OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def _agents(seen: list[list[str]]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.getall("User-Agent", []))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


async def _get(url: str, headers: dict[str, str]) -> bytes:
    async with aiohttp.ClientSession() as session:
        timeout = aiohttp.ClientTimeout(total=10)
        pool = Pool(session, asyncio.get_running_loop())
        response = await pool.exchange("GET", URL(url), headers, None, timeout, "naftiko/1")
        body = await response.content.read()
        response.release()
        return body


def test_the_user_agent_is_the_gateways_unless_the_operation_sends_its_own() -> None:
    seen: list[list[str]] = []
    with serve_app(_agents(seen)) as url:
        assert asyncio.run(_get(url + "/a", {})) == b'{"ok": true}'
        asyncio.run(_get(url + "/b", {"user-agent": "partner-sdk/2"}))
    assert seen == [["naftiko/1"], ["partner-sdk/2"]]


@dataclass
class _Wire:
    """A loopback server that records each request's bytes and answers from a script (an
    empty answer: the connection is closed instead)."""

    answers: list[bytes]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if not answer:
                    break  # closed without an answer
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def _wire(*answers: bytes) -> AsyncIterator[_Wire]:
    wire = _Wire(list(answers))
    server = await asyncio.start_server(wire.serve, "127.0.0.1", 0)
    wire.port = server.sockets[0].getsockname()[1]
    try:
        yield wire
    finally:
        server.close()


@asynccontextmanager
async def _pool() -> AsyncIterator[Pool]:
    async with aiohttp.ClientSession() as session:
        yield Pool(session, asyncio.get_running_loop())


async def _call(
    pool: Pool,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    proxy: str | None = None,
    proxy_headers: dict[str, str] | None = None,
) -> tuple[Answer, bytes]:
    answer = await pool.exchange(
        method,
        URL(url, encoded=True),
        headers or {},
        body,
        aiohttp.ClientTimeout(total=10),
        "naftiko/1",
        URL(proxy) if proxy else None,
        proxy_headers,
    )
    data = await answer.content.read()
    answer.release()
    return answer, data


def _head(request: bytes) -> tuple[str, dict[str, str]]:
    lines = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    pairs = (line.split(": ", 1) for line in lines[1:])
    return lines[0], {name.lower(): value for name, value in pairs}


async def test_a_get_names_its_host_what_it_accepts_and_the_agent_and_nothing_of_a_body() -> None:
    async with _wire(_OK, _OK) as wire, _pool() as pool:
        answer, data = await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/v1/a%2Fb?q=1&r=%20")
        await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/again")
    assert (answer.status, data, answer.content_length) == (200, b"{}", 2)
    line, headers = _head(wire.requests[0])
    assert line == "GET /v1/a%2Fb?q=1&r=%20 HTTP/1.1"  # the target as encoded, untouched
    assert headers == {
        "host": f"127.0.0.1:{wire.port}",
        "accept": "*/*",
        "accept-encoding": aiohttp.ClientRequest.DEFAULT_HEADERS[aiohttp.hdrs.ACCEPT_ENCODING],
        "user-agent": "naftiko/1",
    }
    assert wire.connections == 1  # the released connection went back to the pool


async def test_a_body_goes_with_its_length_and_a_default_content_type_in_one_request() -> None:
    async with _wire(_OK, _OK, _OK) as wire, _pool() as pool:
        url = f"http://127.0.0.1:{wire.port}/items"
        await _call(pool, "POST", url, {"Content-Type": "application/json"}, b'{"a": 1}')
        await _call(pool, "PUT", url, {}, b"\x00\x01")
        await _call(pool, "DELETE", url)
    post, put, delete = wire.requests
    assert post.endswith(b'\r\n\r\n{"a": 1}')
    assert _head(post)[1]["content-length"] == "8"
    assert _head(post)[1]["content-type"] == "application/json"  # the operation's own wins
    assert _head(put)[1]["content-type"] == "application/octet-stream"
    assert put.endswith(b"\r\n\r\n\x00\x01")
    assert _head(delete)[1]["content-length"] == "0"
    assert "content-type" not in _head(delete)[1]


async def test_the_operations_host_wins_and_user_information_becomes_basic_credentials() -> None:
    async with _wire(_OK) as wire, _pool() as pool:
        await _call(
            pool, "GET", f"http://ann:s%3Acret@127.0.0.1:{wire.port}/x", {"Host": "api.example"}
        )
    line, headers = _head(wire.requests[0])
    assert line == "GET /x HTTP/1.1"
    assert headers["host"] == "api.example"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ann:s:cret").decode()


async def test_a_line_break_in_a_header_is_refused_before_anything_is_written() -> None:
    async with _wire(_OK) as wire, _pool() as pool:
        for bad in ({"X-A": "v\r\nX-Injected: 1"}, {"X-A\nB": "v"}):
            with pytest.raises(ValueError):
                await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/x", bad)
        await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/after")
    assert [_head(r)[0] for r in wire.requests] == ["GET /after HTTP/1.1"]


async def test_interim_answers_are_skipped_and_the_final_one_is_the_answer() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
    async with _wire(interim + _OK) as wire, _pool() as pool:
        answer, data = await _call(pool, "POST", f"http://127.0.0.1:{wire.port}/x", {}, b"{}")
    assert (answer.status, data) == (200, b"{}")


async def test_an_answer_that_is_not_http_is_a_response_error_and_its_connection_closed() -> None:
    async with _wire(b"\x00\x01 not HTTP\r\n\r\n", _OK) as wire, _pool() as pool:
        with pytest.raises(aiohttp.ClientResponseError):
            await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/x")
        answer, _ = await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/y")
    assert answer.status == 200
    assert wire.connections == 2


async def test_a_head_answer_has_no_body_and_frees_its_connection() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 512\r\n\r\n"
    async with _wire(head, _OK) as wire, _pool() as pool:
        answer, data = await _call(pool, "HEAD", f"http://127.0.0.1:{wire.port}/x")
        await _call(pool, "GET", f"http://127.0.0.1:{wire.port}/y")
    assert (answer.status, data, answer.content_length) == (200, b"", 512)
    assert wire.connections == 1


async def test_through_an_http_proxy_the_target_is_the_absolute_url_with_its_credentials() -> None:
    async with _wire(_OK) as proxy, _pool() as pool:
        await _call(
            pool,
            "GET",
            "http://ann:pw@upstream.example:8080/v1/x?q=1",
            {"Proxy-Authorization": "Basic cHJveHk6cHc="},
            proxy=f"http://127.0.0.1:{proxy.port}",
        )
    line, headers = _head(proxy.requests[0])
    assert line == "GET http://upstream.example:8080/v1/x?q=1 HTTP/1.1"  # no user information
    assert headers["host"] == "upstream.example:8080"
    assert headers["proxy-authorization"] == "Basic cHJveHk6cHc="


async def test_a_connect_carries_only_the_user_agent_and_the_proxys_credentials() -> None:
    refused = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"
    async with _wire(refused) as proxy, _pool() as pool:
        with pytest.raises(aiohttp.ClientHttpProxyError):
            await _call(
                pool,
                "GET",
                "https://upstream.example/v1/x?key=secret",
                {"Authorization": "Bearer upstream-token"},
                proxy=f"http://127.0.0.1:{proxy.port}",
                proxy_headers={"Proxy-Authorization": "Basic cHJveHk6cHc="},
            )
    line, headers = _head(proxy.requests[0])
    assert line == "CONNECT upstream.example:443 HTTP/1.1"
    assert headers["user-agent"] == "naftiko/1"
    assert headers["proxy-authorization"] == "Basic cHJveHk6cHc="
    assert set(headers) <= {
        "host",
        "user-agent",
        "proxy-authorization",
        "accept",
        "accept-encoding",
    }
    assert b"upstream-token" not in proxy.requests[0]
    assert b"secret" not in proxy.requests[0]


async def test_another_scheme_is_refused_before_any_connection() -> None:
    async with _pool() as pool:
        with pytest.raises(aiohttp.NonHttpUrlClientError):
            await _call(pool, "GET", "ftp://127.0.0.1/x")


# `Upstreams.call_authority`, OAuth2 token endpoints, metadata and keys: the same client.


@asynccontextmanager
async def _authority(proxy: Proxy | None = None) -> AsyncIterator[Upstreams]:
    network = Network()
    if proxy is not None:
        network.proxy = lambda url: proxy  # type: ignore[method-assign]
    upstreams = Upstreams({}, Timeouts(), network=network)
    await upstreams.start()
    try:
        yield upstreams
    finally:
        await upstreams.close()


async def test_an_authority_get_is_sent_once_more_when_its_pooled_connection_had_closed() -> None:
    async with _wire(_OK, b"", _OK) as wire, _authority() as upstreams:
        url = f"http://127.0.0.1:{wire.port}/jwks"
        assert (await upstreams.call_authority(url)).status == 200
        assert (await upstreams.call_authority(url)).status == 200
    assert (len(wire.requests), wire.connections) == (3, 2)


async def test_an_authority_post_is_never_sent_twice() -> None:
    async with _wire(_OK, b"", _OK) as wire, _authority() as upstreams:
        url = f"http://127.0.0.1:{wire.port}/token"
        await upstreams.call_authority(url, form={"grant_type": "client_credentials"})
        with pytest.raises(UpstreamUnavailable, match="the authorization server failed"):
            await upstreams.call_authority(url, form={"grant_type": "client_credentials"})
    assert len(wire.requests) == 2
    line, headers = _head(wire.requests[1])
    assert line == "POST /token HTTP/1.1"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert wire.requests[1].endswith(b"\r\n\r\ngrant_type=client_credentials")


async def test_an_http_authority_through_a_proxy_carries_the_proxys_credentials() -> None:
    async with _wire(_OK) as proxy:
        route = Proxy(URL(f"http://127.0.0.1:{proxy.port}"), "Basic cHJveHk6cHc=")
        async with _authority(route) as upstreams:
            await upstreams.call_authority("http://auth.example/jwks", basic=("id", "s"))
    line, headers = _head(proxy.requests[0])
    assert line == "GET http://auth.example/jwks HTTP/1.1"
    assert headers["proxy-authorization"] == "Basic cHJveHk6cHc="
    assert headers["authorization"] == "Basic " + base64.b64encode(b"id:s").decode()
    assert headers["accept"] == "application/json"
