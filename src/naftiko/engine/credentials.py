"""Upstream credentials applied above the transport seam: static ones rendered once, the
others per request; OAuth2 client-credentials tokens fetched (through the transport's
authorization-server client) and cached; a digest challenge answered with one retry."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any

from yarl import URL

import naftiko.safejson as safejson
from naftiko.engine import auth
from naftiko.engine.plan import Client
from naftiko.engine.request import UpstreamRequest
from naftiko.engine.scope import Scope
from naftiko.engine.secrets import Secrets
from naftiko.engine.transport import Transport, UpstreamResponse
from naftiko.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from naftiko.model import DigestAuth, OAuth2Auth
from naftiko.spec.bindings import Bindings


class Credentials:
    """Sends through `transport` with each namespace's configured credentials."""

    def __init__(
        self,
        clients: Mapping[str, Client],
        bindings: Bindings,
        transport: Transport,
        secrets: Secrets,
    ) -> None:
        self._clients = clients
        self._transport = transport
        self._secrets = secrets
        # Credentials that only use bound variables are rendered once, not per request.
        self._static = {
            ns: static
            for ns, c in clients.items()
            if (static := auth.static_credentials(c.authentication, bindings)) is not None
        }
        self._tokens = auth.OAuth2Tokens(self._fetch_token)

    def send(
        self, namespace: str, request: UpstreamRequest, scope: Scope, *, stream: bool = False
    ) -> Coroutine[Any, Any, UpstreamResponse]:
        """`request` with the namespace's credentials, sent: the transport's own coroutine
        when nothing remains to do once it answers (no await layer of ours on the way)."""
        credentials = self._clients[namespace].authentication
        static = self._static.get(namespace)
        if static is not None:
            # Defaults, as a session's headers are: a header the operation sets itself wins.
            headers = request.headers
            names = static.names
            # Usually no name in common: then no set of the request's names is built.
            if names.isdisjoint(map(str.lower, headers)):
                headers.update(static.headers)
            else:
                taken = {name.lower() for name in headers}
                for name, value in static.headers.items():
                    if name.lower() not in taken:
                        headers[name] = value
            if static.query:
                request.query.extend(static.query)
        else:
            auth.apply(credentials, request, scope)
        if isinstance(credentials, OAuth2Auth | DigestAuth):
            return self._challenged(namespace, credentials, request, scope, stream)
        return self._transport.send(namespace, request, stream=stream)

    async def _challenged(
        self,
        namespace: str,
        credentials: OAuth2Auth | DigestAuth,
        request: UpstreamRequest,
        scope: Scope,
        stream: bool,
    ) -> UpstreamResponse:
        """A fetched OAuth2 token, or a digest challenge answered with one retry."""
        if isinstance(credentials, OAuth2Auth):
            token = await self._tokens.token(namespace, credentials, scope)
            self._secrets.add(token)  # masked from now on, as a bound key is
            request.headers["Authorization"] = f"Bearer {token}"
        response = await self._transport.send(namespace, request, stream=stream)
        if response.status == 401 and isinstance(credentials, DigestAuth):
            challenge = response.headers.get("WWW-Authenticate", "")
            url = URL(request.full_url(), encoded=True)
            header = auth.digest_header(
                credentials, scope, challenge, request.method, url.raw_path_qs
            )
            if header is not None:
                request.headers["Authorization"] = header
                response = await self._transport.send(namespace, request, stream=stream)
        return response

    async def _fetch_token(self, endpoint: str, form: dict[str, str]) -> dict[str, Any]:
        # The authorization-server client carries no namespace's credentials.
        try:
            response = await self._transport.call_authority(endpoint, form=form)
        except UpstreamTimeout:
            raise UpstreamTimeout("OAuth2 token endpoint did not answer in time") from None
        except UpstreamError:
            raise UpstreamUnavailable("OAuth2 token endpoint failed") from None
        if response.status >= 400:
            raise UpstreamError(f"OAuth2 token endpoint answered {response.status}", 502)
        try:
            data = safejson.upstream(response.body)  # never a RecursionError, NaN or Infinity
        except ValueError:
            raise UpstreamUnavailable("OAuth2 token endpoint failed") from None
        return data if isinstance(data, dict) else {}
