"""`Settings`: everything `naftiko run` can be told, built once from flags and the
environment, and refused at once (one clear `ValueError`) when a value cannot work."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from naftiko.defaults import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UPSTREAM_MEMORY,
)
from naftiko.engine.options import ProxyOptions, Timeouts
from naftiko.engine.streams import DEFAULT_MAX_UPSTREAM_BODY
from naftiko.engine.tls import TlsOptions


@dataclass(frozen=True)
class Settings:
    """Everything `naftiko run` can be told, built once from flags and the environment."""

    host: str | None = None
    env_file: Path | None = None
    log_level: str = "info"
    log_format: str = "text"
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_body: int = DEFAULT_MAX_BODY
    max_upstream_body: int = DEFAULT_MAX_UPSTREAM_BODY
    max_upstream_memory: int = DEFAULT_MAX_UPSTREAM_MEMORY  # all requests' bodies together
    drain_seconds: float = 10.0
    stdio: bool = False
    # Browser origins allowed to call the adapters (CORS, MCP Origin check), and extra
    # `Host` names a loopback listener accepts besides loopback ones (DNS rebinding).
    allow_origins: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    send_timeout: float = 60.0  # the longest a client may leave its answer unread
    keepalive_timeout: int = 5  # whole seconds, as uvicorn takes it
    max_header_bytes: int = 64 * 1024
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    workers: int = 1
    # Seconds between readiness turning 503 and the listeners closing, so that a balancer
    # polling readiness stops sending first.
    drain_delay: float = 0.0
    ready_upstreams: bool = False  # readiness also asks that every upstream accepts a connection
    watch: bool = False  # reload when a spec or bind file changes
    # Outbound proxies and certificates (upstream trust, client certificates, adapter TLS).
    proxy: ProxyOptions = field(default_factory=ProxyOptions)
    tls: TlsOptions = field(default_factory=TlsOptions)

    def __post_init__(self) -> None:
        numbers = {
            "timeouts": min(self.timeouts.total, self.timeouts.connect),
            "max_body": self.max_body,
            "max_upstream_body": self.max_upstream_body,
            "max_upstream_memory": self.max_upstream_memory,
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "send_timeout": self.send_timeout,
            "keepalive_timeout": self.keepalive_timeout,
            "max_header_bytes": self.max_header_bytes,
            "max_connections": self.max_connections,
            "workers": self.workers,
        }
        for name, value in numbers.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_seconds < 0 or self.drain_delay < 0:
            raise ValueError("drain_seconds and drain_delay must not be negative")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("--log-level must be debug, info, warning or error")
        if self.log_format not in ("text", "json"):
            raise ValueError("--log-format must be text or json")


def worker_count(text: str) -> int:
    """`--workers`: a number, or `auto`, one worker per core this process may run on."""
    if text == "auto":
        return len(os.sched_getaffinity(0)) or 1
    count = int(text)
    if count < 1:
        raise ValueError("--workers must be at least 1, or auto")
    return count
