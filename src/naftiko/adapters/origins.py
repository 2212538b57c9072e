"""Browser-facing edge of every adapter: Origin and Host checks, and CORS (SECURITY.md).

A browser page can make requests to any address it can reach, including a gateway on the
user's own machine or network. Three rules keep such a page from using the gateway's
credentials:
* DNS rebinding: an adapter listening on loopback answers only requests whose `Host` is a
  loopback name or an allowed host, so a page at evil.example that re-resolves to 127.0.0.1
  is refused (MCP transport spec, "Security Warning": MUST validate Origin).
* Cross-site requests: a request with an `Origin` outside the operator's allow-list (and not
  a page on this machine: a loopback host) is 403 on MCP, and on the other adapters whenever
  it could change anything (unsafe methods, preflights); safe reads are served without CORS
  headers, so the browser keeps the answer from the page.
* CORS (off unless origins are allowed): preflights from allowed origins are answered with
  the methods the path really has and the headers the spec declares; responses to allowed
  origins carry `Access-Control-Allow-Origin` for that origin only.
Requests without an `Origin` (curl, SDKs, agents) are not affected by the Origin rules.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# What any client may send besides the headers a spec declares.
_BASE_HEADERS = frozenset(
    {"accept", "accept-language", "content-language", "content-type", "x-request-id"}
)


def normalize_origin(text: str) -> str | None:
    """`HTTPS://Example.com:443/` → `https://example.com`; None when it is no origin."""
    text = text.strip()
    if text == "*":
        return "*"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        shown += f":{port}"
    return f"{scheme}://{shown}"


def _host_name(host: str) -> str:
    """The name part of a `Host` header value (`[::1]:8080` → `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback(address: str) -> bool:
    if address in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class OriginPolicy:
    """The operator's allow-lists (`--allow-origin`, `--allow-host`, and the environment)."""

    origins: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, origins: Iterable[str], hosts: Iterable[str] = ()) -> OriginPolicy:
        normalized: set[str] = set()
        for text in origins:
            origin = normalize_origin(text)
            if origin is None:
                raise ValueError(f"not an origin (scheme://host[:port]): {text!r}")
            normalized.add(origin)
        names = {_host_name(h) for h in hosts if h.strip()}
        names |= {_host_name(urlsplit(o).netloc) for o in normalized if o != "*"}
        return cls(frozenset(normalized), frozenset(names))

    def allows_origin(self, origin: str) -> bool:
        """Granted CORS: the origin is on the operator's list."""
        if "*" in self.origins:
            return origin != "null"
        normalized = normalize_origin(origin)
        return normalized is not None and normalized in self.origins

    def trusts_origin(self, origin: str) -> bool:
        """Not refused: on the list, or a page on this very machine (a loopback host, any
        port — what the MCP SDK's own transport security admits by default)."""
        if self.allows_origin(origin):
            return True
        normalized = normalize_origin(origin)
        return normalized is not None and is_loopback(_host_name(urlsplit(normalized).netloc))

    def allows_host(self, host: str) -> bool:
        name = _host_name(host)
        return is_loopback(name) or name in self.hosts


@dataclass(frozen=True)
class Cors:
    """What one adapter offers cross-origin: its methods per path, the headers it reads."""

    methods_for: Callable[[str], Iterable[str]]
    headers: frozenset[str] = field(default_factory=frozenset)
    expose: tuple[str, ...] = ()


class OriginGuard:
    """ASGI middleware in front of one adapter's app."""

    def __init__(
        self,
        app: ASGIApp,
        policy: OriginPolicy,
        cors: Cors,
        *,
        loopback: bool,
        strict: bool,
    ) -> None:
        self.app = app
        self.policy = policy
        self.cors = cors
        self.loopback = loopback  # check Host (DNS rebinding): the listener is on loopback
        self.strict = strict  # refuse every foreign-origin request (MCP), not only unsafe ones
        self._allow_headers = _BASE_HEADERS | {h.lower() for h in cors.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin, host, hosts = None, None, 0
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"host":
                host, hosts = value.decode("latin-1"), hosts + 1
        if self.loopback and hosts == 1 and host is not None and not self.policy.allows_host(host):
            await _refuse(scope, send, "host not allowed")
            return
        if origin is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        preflight = method == "OPTIONS" and any(
            name == b"access-control-request-method" for name, _ in scope["headers"]
        )
        if not self.policy.allows_origin(origin):
            trusted = self.policy.trusts_origin(origin)
            if preflight or (not trusted and (self.strict or method not in _SAFE)):
                await _refuse(scope, send, "origin not allowed")
                return
            await self.app(scope, receive, send)  # served without CORS headers
            return
        if preflight:
            await self._preflight(scope, send, origin)
            return
        await self.app(scope, receive, self._with_cors(send, origin))

    async def _preflight(self, scope: Scope, send: Send, origin: str) -> None:
        methods = sorted(set(self.cors.methods_for(scope["path"])))
        if not methods:
            await _refuse(scope, send, "no resource at this path", status=404)
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-allow-headers", ", ".join(sorted(self._allow_headers)).encode()),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _with_cors(self, send: Send, origin: str) -> Send:
        extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if self.cors.expose:
            extra.append((b"access-control-expose-headers", ", ".join(self.cors.expose).encode()))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return sending


async def _refuse(scope: Scope, send: Send, detail: str, status: int = 403) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Forbidden" if status == 403 else "Not Found",
            "status": status,
            "detail": detail,
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
