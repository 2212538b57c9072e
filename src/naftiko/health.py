"""`naftiko health`: whether a served spec answers, for container health checks."""

from __future__ import annotations

import socket
from pathlib import Path

from naftiko.spec.loader import load


def health(spec: Path, timeout: float = 2.0) -> tuple[bool, str]:
    """For container health checks of a spec without a control port (`naftiko health`
    asks a control port itself, `tools/control_client.py`): whether every adapter port
    accepts connections."""
    capability = load(spec)
    adapters = [a for a in capability.body.exposes if a.port]
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
