"""One pooled aiohttp client per consumed namespace; the single place where transport
exceptions become UpstreamError (timeout → UpstreamTimeout, the rest → UpstreamUnavailable)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from naftiko.engine import auth
from naftiko.engine.plan import Client
from naftiko.engine.request import UpstreamRequest
from naftiko.engine.scope import Scope
from naftiko.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from naftiko.model import DigestAuth, OAuth2Auth
from naftiko.spec.bindings import Bindings
from naftiko.version import __version__

USER_AGENT = f"naftiko-python/{__version__}"
log = logging.getLogger("naftiko.upstream")


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    total: float = 60.0


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream")


def _reason(exc: OSError) -> str:
    """The kind of failure, never an address: `Connection refused`, not `Connect call
    failed ('10.0.0.7', 8443)` (SECURITY.md: errors name the namespace only)."""
    return os.strerror(exc.errno) if exc.errno else type(exc).__name__


def _unavailable(namespace: str, what: str, reason: str, where: str) -> UpstreamUnavailable:
    # The address is for the operator's log, once (never a URL: its query may hold a key).
    log.warning("upstream %s %s: %s%s", namespace, what, reason, f" at {where}" if where else "")
    return UpstreamUnavailable(f"upstream {namespace!r} {what} ({reason})")


class _StaleConnection(Exception):
    """The connection dropped before an answer; whether to retry is the caller's decision."""


class Upstreams:
    """The pooled clients, opened in `start()` and closed in `close()` (the runtime lifespan)."""

    def __init__(self, clients: dict[str, Client], timeouts: Timeouts, bindings: Bindings) -> None:
        self._clients = clients
        # Credentials that only use bound variables are rendered once, not per request.
        self._static = {
            ns: static
            for ns, c in clients.items()
            if (static := auth.static_credentials(c.authentication, bindings)) is not None
        }
        self._timeouts = timeouts
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        # Authorization servers (metadata, JWKS, introspection) get their own pool, opened and
        # closed with the others and bound by the same timeouts.
        self._authority: aiohttp.ClientSession | None = None
        self._tokens = auth.OAuth2Tokens(self._fetch_token)

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=self._timeouts.total, sock_connect=self._timeouts.connect
        )
        for namespace in self._clients:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
            static = self._static.get(namespace)
            # Static credential headers ride on the session: nothing to merge per request.
            headers = {"User-Agent": USER_AGENT, **(static.headers if static else {})}
            self._sessions[namespace] = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers=headers,
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        self._authority = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        authority, self._authority = self._authority, None
        if authority is not None:
            sessions["\0authority"] = authority
        await asyncio.gather(*(s.close() for s in sessions.values()))

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse:
        """GET (or, with `form`, POST) an authorization server's metadata, keys or
        introspection endpoint; transport failures raise UpstreamUnavailable/UpstreamTimeout."""
        session = self._authority
        if session is None:
            raise UpstreamUnavailable("the authorization server client is not started")
        login = aiohttp.BasicAuth(*basic) if basic is not None else None
        try:
            async with session.request(
                "POST" if form is not None else "GET",
                url,
                data=form,
                auth=login,
                allow_redirects=False,
            ) as response:
                return UpstreamResponse(response.status, response.headers, await response.read())
        except TimeoutError:
            raise UpstreamTimeout("the authorization server did not answer in time") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise UpstreamUnavailable(
                f"the authorization server is unreachable: {reason}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            reason = type(exc).__name__
            raise UpstreamUnavailable(f"the authorization server failed: {reason}") from None

    async def send(
        self, namespace: str, request: UpstreamRequest, scope: Scope
    ) -> UpstreamResponse:
        client = self._clients[namespace]
        credentials = client.authentication
        static = self._static.get(namespace)
        if static is not None:
            request.query.extend(static.query)
        else:
            auth.apply(credentials, request, scope)
        if isinstance(credentials, OAuth2Auth):
            token = await self._tokens.token(namespace, credentials, scope)
            request.headers["Authorization"] = f"Bearer {token}"
        response = await self._send(namespace, request)
        if response.status == 401 and isinstance(credentials, DigestAuth):
            challenge = response.headers.get("WWW-Authenticate", "")
            url = URL(request.full_url(), encoded=True)
            header = auth.digest_header(
                credentials, scope, challenge, request.method, url.raw_path_qs
            )
            if header is not None:
                request.headers["Authorization"] = header
                response = await self._send(namespace, request)
        return response

    async def _send(self, namespace: str, request: UpstreamRequest) -> UpstreamResponse:
        try:
            return await self._attempt(namespace, request)
        except _StaleConnection:
            if not request.idempotent:
                raise UpstreamUnavailable(f"upstream {namespace!r} closed the connection") from None
            # A pooled keep-alive connection the upstream had already closed: one retry, and
            # only for idempotent methods (a POST is never sent twice).
            try:
                return await self._attempt(namespace, request)
            except _StaleConnection:
                raise UpstreamUnavailable(f"upstream {namespace!r} closed the connection") from None

    async def _attempt(self, namespace: str, request: UpstreamRequest) -> UpstreamResponse:
        session = self._sessions.get(namespace)
        if session is None:
            raise UpstreamUnavailable(f"upstream {namespace!r} is not started")
        # The URL is already percent-encoded per segment; yarl must not re-quote it.
        url = URL(request.full_url(), encoded=True)
        try:
            async with session.request(
                request.method,
                url,
                headers=request.headers or None,
                data=request.body,
                allow_redirects=request.method in ("GET", "HEAD"),
            ) as response:
                body = await response.read()
                return UpstreamResponse(response.status, response.headers, body)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {namespace!r} did not answer in time") from None
        except aiohttp.InvalidURL:
            raise UpstreamUnavailable(f"upstream {namespace!r}: invalid URL") from None
        except aiohttp.ClientConnectorError as exc:
            where = f"{exc.host}:{exc.port}"
            raise _unavailable(namespace, "is unreachable", _reason(exc.os_error), where) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise _StaleConnection from None
        except aiohttp.ClientPayloadError:
            raise UpstreamUnavailable(f"upstream {namespace!r} broke the response") from None
        except aiohttp.ClientError as exc:
            raise _unavailable(namespace, "failed", type(exc).__name__, "") from None
        except OSError as exc:
            raise _unavailable(namespace, "failed", _reason(exc), "") from None

    async def _fetch_token(self, endpoint: str, form: dict[str, str]) -> dict[str, Any]:
        session = next(iter(self._sessions.values()), None)
        if session is None:
            raise UpstreamUnavailable("no upstream client is started")
        try:
            async with session.post(endpoint, data=form) as response:
                if response.status >= 400:
                    raise UpstreamError(f"OAuth2 token endpoint answered {response.status}", 502)
                data = await response.json(content_type=None)
        except TimeoutError:
            raise UpstreamTimeout("OAuth2 token endpoint did not answer in time") from None
        except (aiohttp.ClientError, ValueError, OSError):
            raise UpstreamUnavailable("OAuth2 token endpoint failed") from None
        return data if isinstance(data, dict) else {}
