"""The real `Transport` (engine/transport.py): one pooled aiohttp client per consumed
namespace, and one for authorization servers; the single place where transport exceptions
become UpstreamError (timeout → UpstreamTimeout, the rest → UpstreamUnavailable)."""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import math
import ssl
import time
from collections.abc import AsyncGenerator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.hdrs import CONTENT_ENCODING, TRANSFER_ENCODING
from yarl import URL

from naftiko.engine.network import (
    Network,
    Proxy,
    failure_reason,
    os_error_reason,
    proxied_headers,
    same_origin_redirect,
    status_text,
    tunnel,
)
from naftiko.engine.options import Timeouts
from naftiko.engine.plan import Client
from naftiko.engine.request import UpstreamRequest
from naftiko.engine.streams import CHUNK, DEFAULT_MAX_UPSTREAM_BODY, BodyTooLarge, Budget
from naftiko.engine.transport import UpstreamResponse, is_json
from naftiko.engine.upstream_call import Answer, Pool
from naftiko.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from naftiko.version import __version__

USER_AGENT = f"naftiko-python/{__version__}"
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)
_FOLLOWED = frozenset({"GET", "HEAD"})  # redirects of other methods go back to the caller
_MAX_REDIRECTS = 10
log = logging.getLogger("naftiko.upstream")


def _unavailable(namespace: str, what: str, reason: str, where: str) -> UpstreamUnavailable:
    # The engine logs the failure once, with its operation, trace id and this address (never
    # a URL: its query may hold a key).
    return UpstreamUnavailable(f"upstream {namespace!r} {what} ({reason})", where=where)


# Whether the current attempt went out on a connection taken from the pool.
_POOLED: ContextVar[bool] = ContextVar("naftiko_pooled", default=False)


class _Connector(aiohttp.TCPConnector):
    """Tells a pooled connection from a new one: only a new one is created (a connection
    from the pool costs no call of ours, where wrapping `connect` cost one per request)."""

    async def _create_connection(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        _POOLED.set(False)
        return await super()._create_connection(req, traces, timeout)


def _dropped(exc: aiohttp.ClientError) -> bool:
    """The connection dropped before an answer: not a refused or failed connect, nor a TLS
    alert once the handshake is done (TLS 1.3 "certificate required": the upstream's
    answer, which aiohttp wraps)."""
    if isinstance(exc, aiohttp.ClientConnectorError) or isinstance(exc.__cause__, ssl.SSLError):
        return False
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)


def _resend(exc: aiohttp.ClientError, idempotent: bool) -> bool:
    """Whether a failed attempt is sent once more: the pooled keep-alive connection it went
    out on had been closed by the upstream, and the method is idempotent (a POST is never
    sent twice)."""
    return idempotent and _POOLED.get() and _dropped(exc)


class Upstreams:
    """The pooled clients, opened in `start()` and closed in `close()` (the runtime lifespan)."""

    def __init__(
        self,
        clients: dict[str, Client],
        timeouts: Timeouts,
        max_body: int = DEFAULT_MAX_UPSTREAM_BODY,
        network: Network | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._clients = clients
        self._network = network or Network()
        self._timeouts = timeouts
        self._pool_timeout = self._timeout(timeouts.total)
        self.max_body = max_body
        self.budget = budget or Budget()
        self._pools: dict[str, Pool] = {}
        self._fds_logged = False
        # Authorization servers (OAuth2 token endpoints, metadata, JWKS, introspection) get
        # their own pool, carrying no namespace's credentials, bound by the same timeouts.
        self._authority: Pool | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()  # every call's (asking costs a system call in 3.11)
        timeout = self._pool_timeout
        for namespace in self._clients:
            connector = _Connector(
                limit=0,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
                timeout_ceil_threshold=math.inf,
                ssl=self._network.context(namespace),
            )
            # The session is the pool and its close; calls go through `upstream_call.Pool`,
            # which sends the User-Agent and never a credential on a proxy's CONNECT.
            session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
            self._pools[namespace] = Pool(session, loop)
        authority = aiohttp.ClientSession(
            connector=_Connector(
                limit=0,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
                ssl=self._network.default_context or True,
            ),
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._authority = Pool(authority, loop)

    async def close(self) -> None:
        pools = list(self._pools.values())
        if self._authority is not None:
            pools.append(self._authority)
        self._pools, self._authority = {}, None
        await asyncio.gather(*(pool.session.close() for pool in pools))

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse:
        """GET (or, with `form`, POST) an authorization server's metadata, keys or
        introspection endpoint; transport failures raise UpstreamUnavailable/UpstreamTimeout."""
        pool = self._authority
        if pool is None:
            raise UpstreamUnavailable("the authorization server client is not started")
        headers = {"Accept": "application/json"}  # and the User-Agent, as on every call
        if basic is not None:
            # Basic credentials (RFC 7617): the client id and secret arrive already
            # form-encoded (RFC 6749 §2.3.1), so they are ASCII.
            pair = f"{basic[0]}:{basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        method = "POST" if form is not None else "GET"
        target = URL(url)
        proxy = self._network.proxy(target)
        proxy_url, proxy_headers = tunnel(proxy)
        sent = proxied_headers(headers, proxy, target)
        try:
            # The client of every upstream call, with its one resend; no redirect followed.
            for resent in (False, True):
                _POOLED.set(True)  # until the connector creates a new connection for it
                try:
                    response = await pool.exchange(
                        method,
                        target,
                        sent,
                        data,
                        self._pool_timeout,
                        USER_AGENT,
                        proxy_url,
                        proxy_headers,
                    )
                    break
                except aiohttp.ClientError as exc:
                    if resent or not _resend(exc, method == "GET"):
                        raise
            try:
                # Under the same byte limit as any upstream: an endless answer ends there.
                body = await response.read("authorization server", self.max_body)
            finally:
                response.finish()
            return UpstreamResponse(response.status, response.headers, body)
        except TimeoutError:
            raise UpstreamTimeout("the authorization server did not answer in time") from None
        except aiohttp.ClientConnectorError as exc:
            reason = failure_reason(exc) or exc.os_error.strerror or type(exc.os_error).__name__
            raise UpstreamUnavailable(
                f"the authorization server is unreachable: {reason}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            reason = type(exc).__name__
            raise UpstreamUnavailable(f"the authorization server failed: {reason}") from None

    async def send(
        self, namespace: str, request: UpstreamRequest, *, stream: bool = False
    ) -> UpstreamResponse:
        """One upstream call (the engine has applied credentials). With `stream`, a
        successful JSON body is left on the wire (`UpstreamResponse.stream`) for the caller
        to pass on chunk by chunk."""
        # One coroutine for the attempts and the answer: every await layer is paid again each
        # time the call resumes.
        pool = self._pools.get(namespace)
        if pool is None:
            raise UpstreamUnavailable(f"upstream {namespace!r} is not started")
        retried = False
        follow = request.method in _FOLLOWED
        started = time.monotonic() if follow else 0.0
        hops = 0
        timeout = self._pool_timeout
        # The URL is already percent-encoded per segment; yarl must not re-quote it.
        url = URL(request.full_url(), encoded=True)
        while True:
            request.attempts += 1  # a redirect is a resend too (OTel's resend_count)
            proxy = self._network.proxy(url)
            proxy_url, proxy_headers = tunnel(proxy)
            _POOLED.set(True)  # until the connector creates a new connection for this attempt
            try:
                response = await pool.exchange(
                    request.method,
                    url,
                    proxied_headers(request.headers, proxy, url),
                    request.body,
                    timeout,
                    USER_AGENT,
                    proxy_url,
                    proxy_headers,
                )
            except aiohttp.ClientError as exc:
                if not _dropped(exc):
                    self._note_descriptors(exc)
                    raise _failure(namespace, exc, proxy) from None
                if retried or not _resend(exc, request.idempotent):
                    raise UpstreamUnavailable(
                        f"upstream {namespace!r} closed the connection"
                    ) from None
                retried = True
                continue
            except (TimeoutError, OSError) as exc:
                self._note_descriptors(exc)
                raise _failure(namespace, exc, proxy) from None
            if not follow:
                break
            target = same_origin_redirect(response.status, response.headers, url)
            if target is None:
                break
            response.finish()
            hops += 1
            left = self._timeouts.total - (time.monotonic() - started)
            if left <= 0:
                raise _failure(namespace, TimeoutError())
            if hops > _MAX_REDIRECTS:
                raise UpstreamUnavailable(f"upstream {namespace!r} redirected too often")
            url = target
            timeout = self._timeout(left)  # a redirect's own: what is left of the first's
        handed_on = False
        try:
            if not 200 <= response.status <= 599:
                # A protocol switch nobody asked for (101), or a status HTTP does not have
                # (099, 600): passed on, it would be the gateway's own invalid answer.
                response.close()
                raise UpstreamUnavailable(
                    f"upstream {namespace!r} answered with status {response.status}, "
                    "not a final HTTP status"
                )
            if response.status == 407 and proxy is not None:
                # Only a proxy asks for proxy credentials: not the upstream's answer.
                reason = f"the proxy refused the request: {status_text(407)}"
                raise _unavailable(namespace, "failed", reason, proxy.shown)
            declared = response.content_length
            if declared is not None and declared > self.max_body:
                raise BodyTooLarge(namespace, self.max_body)
            # A body announced as at most one chunk is read whole: the same memory, and the
            # caller gets a Content-Length instead of chunked encoding (the common API case).
            small = declared is not None and declared <= CHUNK
            if (
                stream
                and not small
                and response.status < 400
                and is_json(response.headers.get("Content-Type", ""))
            ):
                chunks = _chunks(response, namespace, self.max_body)
                handed_on = True
                return UpstreamResponse(response.status, response.headers, b"", chunks)
            answered = response.headers
            if small and CONTENT_ENCODING not in answered and TRANSFER_ENCODING not in answered:
                # The parser stops at Content-Length and there is nothing to inflate: at most
                # `declared` bytes, read in one call (no iterator, no StopAsyncIteration), or
                # taken as it is when it has all arrived (usually with the head).
                self.budget.take(declared or 0, namespace)
                content = response.content
                body = content.read_nowait() if content.is_eof() else await content.read()
            else:
                body = await response.read(namespace, self.max_body, self.budget)
            return UpstreamResponse(response.status, response.headers, body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _failure(namespace, exc) from None
        finally:
            if not handed_on:
                response.finish()

    def _timeout(self, total: float) -> aiohttp.ClientTimeout:
        """The pools' timeout, and a redirect's (what is left of the first call's). aiohttp
        rounds deadlines above `ceil_threshold` up to the next whole second; an infinite
        threshold keeps `--timeout` exact."""
        return aiohttp.ClientTimeout(
            total=total, sock_connect=self._timeouts.connect, ceil_threshold=math.inf
        )

    def _note_descriptors(self, exc: BaseException) -> None:
        """Running out of file descriptors is the operator's to fix: said once, at ERROR."""
        error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        if isinstance(error, OSError) and error.errno in _OUT_OF_FDS and not self._fds_logged:
            self._fds_logged = True
            log.error("out of file descriptors: upstream connections fail (raise the limit)")


async def _chunks(response: Answer, namespace: str, limit: int) -> AsyncGenerator[bytes, None]:
    """The body as it arrives, within the same byte limit and the same total timeout."""
    size = 0
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(namespace, limit)
            yield chunk
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _failure(namespace, exc) from None
    finally:
        response.finish()


def _failure(namespace: str, exc: BaseException, proxy: Proxy | None = None) -> UpstreamError:
    """The single place a transport exception becomes an UpstreamError (naming the
    namespace, never the address). The transport's exception is then let go of its
    tracebacks: aiohttp's connector and aiohappyeyeballs keep an exception in a local of a
    frame its own traceback holds, a cycle that, with our frames hanging from it, waited for
    the cycle collector (which runs rarely, `listeners.YOUNG_COLLECTION`)."""
    failure = _failure_of(namespace, exc, proxy)
    seen: set[int] = set()
    chained: BaseException | None = exc
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        chained.__traceback__ = None
        chained = chained.__cause__ or chained.__context__
    return failure


def _failure_of(namespace: str, exc: BaseException, proxy: Proxy | None) -> UpstreamError:
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"upstream {namespace!r} did not answer in time")
    if isinstance(exc, aiohttp.InvalidURL):
        return UpstreamUnavailable(f"upstream {namespace!r}: invalid URL")
    reason = failure_reason(exc)
    if reason is not None:
        where = proxy.shown if proxy is not None and "proxy" in reason else _where(exc)
        return _unavailable(namespace, "failed", reason, where)
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"{exc.host}:{exc.port}"
        return _unavailable(namespace, "is unreachable", os_error_reason(exc.os_error), where)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return UpstreamUnavailable(f"upstream {namespace!r} broke the response")
    if isinstance(exc, aiohttp.ClientResponseError):
        # The HTTP parser refused the answer (a bad status line, two lengths, a 204 with a
        # body, headers past its limits, an encoding it cannot undo). Its own words quote the
        # upstream's bytes: the caller is told what, not those.
        return UpstreamUnavailable(f"upstream {namespace!r} sent an answer that is not valid HTTP")
    if isinstance(exc, aiohttp.ClientError):
        return _unavailable(namespace, "failed", type(exc).__name__, "")
    if isinstance(exc, OSError):
        return _unavailable(namespace, "failed", os_error_reason(exc), "")
    return _unavailable(namespace, "failed", type(exc).__name__, "")


def _where(exc: BaseException) -> str:
    return f"{exc.host}:{exc.port}" if isinstance(exc, aiohttp.ClientConnectorError) else ""
