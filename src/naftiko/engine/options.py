"""What `naftiko run` is told about upstream calls (timeouts, proxies), as plain values: read
by `Settings` and by the CLI before anything that makes a call (aiohttp) is imported, so that
a bad flag is refused at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    total: float = 60.0


@dataclass(frozen=True)
class ProxyOptions:
    """What the flags say; the environment fills what they leave out."""

    proxy: str | None = None  # --proxy: every scheme, over HTTP(S)_PROXY
    no_proxy: str | None = None  # --no-proxy: over NO_PROXY
