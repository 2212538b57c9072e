"""`--ready-upstreams`: readiness also asks that every upstream host accepts a TCP
connection (off by default: an upstream outage then takes every replica out of the balancer,
which only some operators want)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

PROBE_SECONDS = 2.0


async def unreachable(engines: Iterable[Any]) -> list[str]:
    """One reason per upstream that does not accept a connection within the probe time."""
    targets: dict[tuple[str, int], str] = {}
    for engine in engines:
        for namespace, client in engine.plan.clients.items():
            if "{{" in client.base_uri.split("//", 1)[-1].split("/", 1)[0]:
                continue  # a host chosen per request cannot be probed ahead of it
            parts = urlsplit(client.base_uri)
            if parts.hostname is None:
                continue
            port = parts.port or (443 if parts.scheme == "https" else 80)
            targets.setdefault((parts.hostname, port), namespace)
    results = await asyncio.gather(*(_probe(host, port) for host, port in targets))
    return [
        f"upstream {namespace} ({host}:{port}) unreachable: {error}"
        for ((host, port), namespace), error in zip(targets.items(), results, strict=True)
        if error
    ]


async def _probe(host: str, port: int) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_SECONDS)
    except TimeoutError:
        return f"no answer in {PROBE_SECONDS:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    writer.close()
    return None
