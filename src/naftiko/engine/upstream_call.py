"""One request on a namespace's pool, sent without `ClientSession.request`.

aiohttp's `ClientSession._request` is one function of some sixty parameters and locals that
also handles cookies, `auth=`, netrc, proxies from the environment, redirects, middlewares
and tracing hooks. A naftiko call uses none of them: credentials are headers (`engine/auth`),
redirects are followed by `Upstreams.send` within the upstream's origin, proxies come from
`Network`. Setting all of that up cost ~60k instructions per call, a tenth of a gateway
request. What remains here is aiohttp's own machinery, in the order `_request` uses it: its
timeout handle, `ClientRequest`, the connector's pool, the connection's protocol and
`ClientResponse`. What differs, on purpose: no hidden retry of an idempotent request on a
dropped connection (`Upstreams.send` retries once itself, and only on a pooled connection).
What is kept: the User-Agent as a session default (an operation's own wins, and a proxy's
CONNECT carries it too, never a credential), the session's limits on the answer's head, and
an `OSError` becoming `ClientOSError`, so that `upstream._failure` words it the same.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import aiohttp
from aiohttp.client_reqrep import ClientRequest, ClientResponse
from aiohttp.helpers import TimeoutHandle
from multidict import CIMultiDict
from yarl import URL

_USER_AGENT = "User-Agent"
# The limits aiohttp's sessions use by default, chosen here: an upstream's status line and
# each header line at most 8190 bytes, at most 128 headers; reads of 64 KiB.
_MAX_LINE = 8190
_MAX_FIELD = 8190
_MAX_HEADERS = 128
_READ_BUFFER = 2**16


async def exchange(
    session: aiohttp.ClientSession,
    loop: asyncio.AbstractEventLoop,
    method: str,
    url: URL,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: aiohttp.ClientTimeout,
    user_agent: str,
    proxy: URL | None = None,
    proxy_headers: Mapping[str, str] | None = None,
) -> ClientResponse:
    """The upstream's answer, its body still on the wire. `timeout.total` bounds the whole
    call, body included (the handle is cancelled when the connection is released). `loop`
    is the running one, passed in: asking for it costs a system call in Python 3.11 (the
    running loop's check of the process id)."""
    connector = session.connector
    assert connector is not None
    if url.scheme not in connector.allowed_protocol_schema_set:
        raise aiohttp.NonHttpUrlClientError(url)  # a base URI bound at run time to ftp://...
    deadline = TimeoutHandle(loop, timeout.total, ceil_threshold=math.inf)
    handle = deadline.start()
    timer = deadline.timer()
    sent = CIMultiDict(headers)
    if _USER_AGENT not in sent:  # a session's default header: the operation's wins
        sent[_USER_AGENT] = user_agent
    tunnel: CIMultiDict[str] | None = None
    if proxy is not None:
        # As a session sends it: its default headers on the CONNECT too, never credentials.
        tunnel = CIMultiDict({_USER_AGENT: user_agent, **(proxy_headers or {})})
    try:
        with timer:
            request = ClientRequest(
                method,
                url,
                headers=sent,
                data=body,
                loop=loop,
                response_class=ClientResponse,
                proxy=proxy,
                timer=timer,
                session=session,
                proxy_headers=tunnel,
            )
            try:
                connection = await connector.connect(request, traces=[], timeout=timeout)
            except TimeoutError as exc:
                raise aiohttp.ConnectionTimeoutError(f"Connection timeout to {url}") from exc
            protocol = connection.protocol
            assert protocol is not None
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
            try:
                response = await request.send(connection)
                try:
                    await response.start(connection)
                except BaseException:
                    response.close()
                    raise
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
        if response.connection is not None:
            response.connection.add_callback(handle.cancel)
        else:
            handle.cancel()
    return response
