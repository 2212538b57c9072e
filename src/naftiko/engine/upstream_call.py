"""One request on a namespace's pool: aiohttp's connector and HTTP parser, without
`ClientSession.request`, `ClientRequest` (but for connecting) or `ClientResponse`.

A naftiko call is simple on the wire: headers already checked (`engine/request.py`), a body
of bytes or none, credentials as headers, redirects followed by `Upstreams.send` within the
origin, proxies from `Network`. aiohttp's request and response objects also handle cookies,
`auth=`, netrc, environment proxies, redirects, middlewares, tracing hooks and streamed or
compressed uploads (a task per body): ~40 Python calls per call, 71k instructions of a
seed request's 518k (`bench/instructions.py`).

Kept from aiohttp, all that makes it a client: the connector (pool, DNS cache, TLS contexts,
client certificates, proxies and CONNECT tunnels), the connection's protocol and C parser
(head limits, chunked and compressed answers, read timeout), its `StreamReader` body, the
total-timeout handle, and its head writer, which refuses a CR or LF in any name or value.

Sent as aiohttp's request did: `Host` (unless the operation sets one), `Accept: */*`, its
`Accept-Encoding` (the parser inflates what it asked for), the User-Agent as a default (an
operation's own wins; a CONNECT carries only it and the proxy's credentials), a URL's user
information as Basic credentials, `Content-Length` (0 for a bodiless POST, PUT, PATCH or
DELETE), `Content-Type: application/octet-stream` for a body or a POST, PUT or PATCH without
one, the absolute URL as target through a plain-http proxy. Interim (1xx) answers are
skipped; a parse error is a `ClientResponseError` and an `OSError` a `ClientOSError`, as
`upstream._failure` expects. On purpose unlike aiohttp: no hidden retry on a dropped
connection (`Upstreams.send` retries once, only on a pooled connection), and a body goes out
with its head in one write.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import aiohttp
from aiohttp import hdrs
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest, RequestInfo
from aiohttp.connector import Connection
from aiohttp.helpers import BaseTimerContext, TimeoutHandle
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_writer import _serialize_headers
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from naftiko.engine.streams import BodyTooLarge, Budget

# The limits aiohttp's sessions use by default, chosen here: an upstream's status line and
# each header line at most 8190 bytes, at most 128 headers; reads of 64 KiB.
_MAX_LINE = 8190
_MAX_FIELD = 8190
_MAX_HEADERS = 128
_READ_BUFFER = 2**16
_DEFAULTS = tuple(ClientRequest.DEFAULT_HEADERS.items())  # Accept, Accept-Encoding
_WITH_BODY = frozenset({"PATCH", "POST", "PUT"})
_GET_LIKE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CONNECTS_KEPT = 1024  # origins a caller can choose (a host label) stay bounded


class Answer:
    """An upstream's answer, its body still on the wire (`content`, fed by the parser).
    `release` when the body was read to its end (the connection goes back to the pool),
    `close` otherwise."""

    __slots__ = ("_connection", "content", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        content: StreamReader,
        connection: Connection,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self._connection: Connection | None = connection

    @property
    def content_length(self) -> int | None:
        value = self.headers.get(hdrs.CONTENT_LENGTH)
        return int(value) if value is not None else None  # the parser checked its digits

    async def read(self, namespace: str, limit: int, budget: Budget | None = None) -> bytes:
        """The whole body, refused as soon as it passes `limit` (an endless body ends there),
        each chunk counted in `budget`."""
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in self.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(namespace, limit)
                if budget is not None:
                    budget.take(len(chunk), namespace)
                chunks.append(chunk)
        except BaseException:
            # The exception's traceback keeps this frame, and so the body read so far, alive
            # until the cycle collector runs (rarely, with a frozen heap): let the bytes go now.
            chunks.clear()
            raise
        return b"".join(chunks)

    def finish(self) -> None:
        """A body read to its end frees the connection for the pool; any other is closed."""
        if self.content.is_eof():
            self.release()
        else:
            self.close()

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.release()  # closed instead if the protocol says it cannot be reused

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class Pool:
    """One namespace's aiohttp session (its connector: connections, TLS, proxies) and the
    requests it connects with, one per origin and proxy: `connector.connect` reads only
    where a request goes (scheme, host, port, proxy, TLS), never its path or headers."""

    def __init__(self, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
        connector = session.connector
        assert connector is not None
        self.session = session
        self._connector = connector
        self._loop = loop
        self._schemes = connector.allowed_protocol_schema_set
        self._connects: dict[tuple[object, ...], ClientRequest] = {}

    async def exchange(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
        user_agent: str,
        proxy: URL | None = None,
        proxy_headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """The upstream's answer, its body still on the wire. `timeout.total` bounds the
        whole call, body included (the handle is cancelled when the connection is
        released). One coroutine: each layer of awaits is paid again at every resumption."""
        if url.scheme not in self._schemes:
            raise aiohttp.NonHttpUrlClientError(url)  # a base URI bound at run time to ftp://...
        if not url.raw_host:
            raise aiohttp.InvalidURL(url)
        connect = self._connect_request(url, proxy, proxy_headers, user_agent)
        deadline = TimeoutHandle(self._loop, timeout.total, ceil_threshold=math.inf)
        handle = deadline.start()
        timer = deadline.timer()
        try:
            with timer:
                try:
                    connection = await self._connector.connect(connect, [], timeout)
                except TimeoutError as exc:
                    raise aiohttp.ConnectionTimeoutError(f"Connection timeout to {url}") from exc
                try:
                    protocol = connection.protocol
                    assert protocol is not None
                    sent = _write_request(
                        protocol, method, url, headers, body, timeout, user_agent, proxy, timer
                    )
                    while True:
                        try:
                            message, payload = await protocol.read()
                        except HttpProcessingError as exc:
                            info = RequestInfo(url, method, CIMultiDictProxy(sent), url)
                            raise aiohttp.ClientResponseError(
                                info, (), status=exc.code, message=exc.message, headers=exc.headers
                            ) from exc
                        if not 100 <= message.code <= 199 or message.code == 101:
                            break  # interim answers (100 Continue, 103 Early Hints) are skipped
                except BaseException:
                    connection.close()
                    raise
        except BaseException as exc:
            deadline.close()
            if handle is not None:
                handle.cancel()
            if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError | TimeoutError):
                raise aiohttp.ClientOSError(*exc.args) from exc  # as aiohttp's own path does
            raise
        if handle is not None:
            connection.add_callback(handle.cancel)
        return Answer(message.code, message.headers, payload, connection)

    def _connect_request(
        self,
        url: URL,
        proxy: URL | None,
        proxy_headers: Mapping[str, str] | None,
        user_agent: str,
    ) -> ClientRequest:
        tunnel = frozenset(proxy_headers.items()) if proxy_headers else None
        key = (url.scheme, url.raw_host, url.port, proxy, tunnel, user_agent)
        request = self._connects.get(key)
        if request is None:
            if len(self._connects) >= _CONNECTS_KEPT:
                self._connects.clear()
            request = self._connects[key] = ClientRequest(
                "GET",
                url.origin(),  # no path, query or user information kept here
                loop=self._loop,
                proxy=proxy,
                session=self.session,
                # A session's default header goes on the CONNECT too, never a credential.
                proxy_headers=None
                if proxy is None
                else {hdrs.USER_AGENT: user_agent, **(proxy_headers or {})},
            )
        return request


def _write_request(
    protocol: ResponseHandler,
    method: str,
    url: URL,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: aiohttp.ClientTimeout,
    user_agent: str,
    proxy: URL | None,
    timer: BaseTimerContext,
) -> CIMultiDict[str]:
    """The request, head and body in one write, and its answer's parser set up; the headers
    sent (an error names them)."""
    transport = protocol.transport
    if transport is None or transport.is_closing():
        raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
    sent = _sent_headers(method, url, headers, body, user_agent)
    # Through a plain-http proxy the target is the absolute URL (RFC 9112 §3.2.2).
    target = url.raw_path_qs
    if proxy is not None and url.scheme == "http":
        target = str(url.with_user(None) if url.raw_user else url)
    head = _serialize_headers(f"{method} {target} HTTP/1.1", sent)
    protocol.set_response_params(
        timer=timer,
        skip_payload=method == "HEAD",
        read_until_eof=True,
        auto_decompress=True,
        read_timeout=timeout.sock_read,
        read_bufsize=_READ_BUFFER,
        timeout_ceil_threshold=math.inf,
        max_line_size=_MAX_LINE,
        max_field_size=_MAX_FIELD,
        max_headers=_MAX_HEADERS,
    )
    transport.write(head + body if body else head)
    protocol.start_timeout()
    return sent


def _sent_headers(
    method: str, url: URL, headers: Mapping[str, str], body: bytes | None, user_agent: str
) -> CIMultiDict[str]:
    """The operation's headers and the defaults aiohttp's request adds, in its order."""
    sent = CIMultiDict(headers)
    if hdrs.HOST not in sent:  # first after the request line (RFC 9110 §7.2)
        sent = CIMultiDict(((hdrs.HOST, url.host_port_subcomponent or ""),))
        sent.extend(headers)
    if hdrs.USER_AGENT not in sent:  # a session's default header: the operation's wins
        sent[hdrs.USER_AGENT] = user_agent
    for name, value in _DEFAULTS:
        if name not in sent:
            sent[name] = value
    if url.raw_user or url.raw_password:
        sent[hdrs.AUTHORIZATION] = aiohttp.encode_basic_auth(url.user or "", url.password or "")
    if body is not None:
        sent.setdefault(hdrs.CONTENT_LENGTH, str(len(body)))
    elif method not in _GET_LIKE:
        sent.setdefault(hdrs.CONTENT_LENGTH, "0")
    if body is not None or method in _WITH_BODY:
        sent.setdefault(hdrs.CONTENT_TYPE, "application/octet-stream")
    return sent
