"""The browser rules every adapter's edge applies: Origin and Host checks, and CORS
(SECURITY.md); `edge.Edge` enforces them.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.responses import Response

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
    """What one adapter offers a browser from an allowed origin: the headers it reads (its
    methods are the edge's to know), and the response headers a page may see."""

    headers: frozenset[str] = field(default_factory=frozenset)
    expose: tuple[str, ...] = ()

    def granted(self, origin: str) -> list[tuple[bytes, bytes]]:
        """Headers on every answer to an allowed origin: that origin only."""
        extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if self.expose:
            extra.append((b"access-control-expose-headers", ", ".join(self.expose).encode()))
        return extra

    def preflight(self, methods: Sequence[str]) -> Response:
        allowed = sorted(_BASE_HEADERS | {h.lower() for h in self.headers})
        headers = {
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ", ".join(allowed),
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)
