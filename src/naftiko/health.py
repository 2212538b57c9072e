"""`naftiko health`: whether a served spec answers, for container health checks."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from naftiko.model import ExposesControl
from naftiko.spec.loader import load


def health(spec: Path, timeout: float = 2.0) -> tuple[bool, str]:
    """For container health checks: the control port's readiness when the spec has one,
    else whether every adapter port accepts connections."""
    capability = load(spec)
    adapters = [a for a in capability.body.exposes if a.port]
    control = next((a for a in adapters if isinstance(a, ExposesControl)), None)
    if control is not None and control.management.health and control.port:
        url = f"http://{_local(control.address)}:{control.port}/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.status == 200, f"{url}: {answer.status}"
        except urllib.error.HTTPError as exc:
            return False, f"{url}: {exc.code}"
        except OSError as exc:
            return False, f"{url}: {exc}"
    for adapter in adapters:
        address = (_local(adapter.address), adapter.port or 0)
        try:
            socket.create_connection(address, timeout=timeout).close()
        except OSError as exc:
            return False, f"{adapter.type} port {address[1]}: {exc.strerror or exc}"
    return True, f"{len(adapters)} adapter port(s) accept connections"


def _local(address: str | None) -> str:
    """Where to reach an adapter from inside its own host or container."""
    return "127.0.0.1" if address in (None, "", "0.0.0.0", "::") else address
