"""The transport seam: what the engine hands to the network, and what comes back.

`Engine` takes a `Transport` as httpx's `AsyncClient` takes one: `upstream.Upstreams`
(pooled aiohttp clients) is the real one; tests pass a recording one. Above the seam (the
engine's, so tested in-process): request building, credentials (static, OAuth2 tokens, the
digest challenge answered, SigV4 signing), trace headers, status and format handling,
redaction. Below it (the transport's): sockets, pooling, timeouts, the stale-connection
retry, the upstream body limit, and the single place transport exceptions become
`UpstreamError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from multidict import CIMultiDictProxy

from naftiko.engine.request import UpstreamRequest

_JSON_TYPES = ("application/json", "+json", "text/json")


@dataclass(slots=True)  # one per upstream call: see `Result` on why not frozen
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    # A pass-through body still on the wire (`send(stream=True)`); `body` is then empty.
    stream: AsyncGenerator[bytes, None] | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream")


class Transport(Protocol):
    """Opened and closed with the engine (the runtime lifespan)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send(
        self, namespace: str, request: UpstreamRequest, *, stream: bool = False
    ) -> UpstreamResponse:
        """`request` (credentials already applied) to the consumed `namespace`. With
        `stream`, a successful JSON body may be left on the wire as `UpstreamResponse.stream`.
        Failures raise `UpstreamError` naming the namespace, never its address."""
        ...

    async def call_authority(
        self, url: str, form: dict[str, str] | None = None, basic: tuple[str, str] | None = None
    ) -> UpstreamResponse:
        """GET (or, with `form`, POST) an authorization server: OAuth2 token endpoints for
        upstream credentials, metadata, keys and introspection for adapter guards."""
        ...


@lru_cache(maxsize=256)
def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return any(media.endswith(t) if t.startswith("+") else media == t for t in _JSON_TYPES)
