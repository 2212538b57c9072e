"""`naftiko health|status|metrics|traces`: a client of a running control port (SEMANTICS §8.2,
§9). Where to find it: `--address`/`--port`, then `NAFTIKO_CONTROL_ADDRESS`/`_PORT`, then the
first spec in the working directory with a control adapter, then localhost:9090."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naftiko.errors import NaftikoError
from naftiko.model import ExposesControl
from naftiko.spec.loader import load

DEFAULT = ("localhost", 9090)


class ControlUnreachable(NaftikoError):
    """No control port answers where it was looked for."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def locate(
    address: str | None,
    port: int | None,
    environ: Mapping[str, str],
    folder: Path,
    spec: Path | None = None,
) -> tuple[str, int]:
    address = address or environ.get("NAFTIKO_CONTROL_ADDRESS") or None
    if port is None and environ.get("NAFTIKO_CONTROL_PORT", "").isdigit():
        port = int(environ["NAFTIKO_CONTROL_PORT"])
    if address is None or port is None:
        found = _from_spec([spec] if spec else sorted(folder.glob("*.y*ml")))
        if found is not None:
            address, port = address or found[0], port or found[1]
    return address or DEFAULT[0], port or DEFAULT[1]


def _from_spec(candidates: list[Path]) -> tuple[str, int] | None:
    for candidate in candidates:
        try:
            exposes = load(candidate).body.exposes
        except (NaftikoError, OSError):
            continue
        for adapter in exposes:
            if isinstance(adapter, ExposesControl) and adapter.port:
                local = adapter.address in (None, "", "0.0.0.0", "::")
                return ("localhost" if local else str(adapter.address)), adapter.port
    return None


def get(where: tuple[str, int], path: str, timeout: float = 5.0) -> Answer:
    """`path` of the control port at `where`, over HTTP, or over HTTPS when the port serves
    TLS (`--tls-cert control=…`): a TLS listener hangs up on a plain request."""
    host = f"[{where[0]}]" if ":" in where[0] else where[0]
    try:
        try:
            return _get(f"http://{host}:{where[1]}{path}", timeout)
        except (http.client.HTTPException, ConnectionResetError):
            return _get(f"https://{host}:{where[1]}{path}", timeout, _tls(where[0]))
    except OSError as exc:
        raise ControlUnreachable(
            f"no control port answers at {where[0]}:{where[1]} ({exc}); is the capability "
            "running with a control adapter? (--address/--port or NAFTIKO_CONTROL_PORT)"
        ) from None


def _get(url: str, timeout: float, context: ssl.SSLContext | None = None) -> Answer:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
            return Answer(answer.status, answer.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())


def _tls(host: str) -> ssl.SSLContext:
    """The system's trust (and `SSL_CERT_FILE`) for a remote control port. On this machine's
    loopback the process asked is our own, often with a certificate made for its public name,
    and the probe sends no credential: its certificate is not checked there."""
    context = ssl.create_default_context()
    if host in ("localhost", "::1") or host.startswith("127."):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def health_lines(live: Answer, ready: Answer) -> tuple[bool, list[str]]:
    liveness = live.json().get("status", "DOWN") if live.status == 200 else f"DOWN ({live.status})"
    body = ready.json() if ready.body else {}
    adapters = body.get("adapters", [])
    started = sum(1 for a in adapters if a.get("state") == "started")
    readiness = body.get("status", "DOWN")
    lines = [
        f"Liveness: {liveness}",
        f"Readiness: {readiness} ({started}/{len(adapters)} adapters started)",
    ]
    return ready.status == 200 and readiness == "UP", lines


def filtered(text: str, pattern: str | None) -> str:
    if pattern is None:
        return text
    wanted = re.compile(pattern)
    return "".join(line for line in text.splitlines(keepends=True) if wanted.search(line))


def trace_lines(body: dict[str, Any]) -> list[str]:
    """A trace's spans as an indented tree (children under their parent)."""
    spans = body.get("spans", [])
    children: dict[str | None, list[dict[str, Any]]] = {}
    known = {s["spanId"] for s in spans}
    for span in spans:
        parent = span.get("parentSpanId")
        children.setdefault(parent if parent in known else None, []).append(span)
    lines = [
        f"trace {body['traceId']} {body['operation']} {body['durationMs']} ms {body['status']}"
    ]

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append(
                f"{'  ' * depth}{span['name']} [{span['kind']}] "
                f"{span['durationMs']} ms {span['status']}"
            )
            walk(span["spanId"], depth + 1)

    walk(None, 1)
    return lines


def list_lines(body: dict[str, Any]) -> list[str]:
    lines = [f"{'TRACE ID':32}  {'OPERATION':24} {'MS':>9}  STATUS  SPANS"]
    for t in body.get("traces", []):
        lines.append(
            f"{t['traceId']:32}  {t['operation']:24} {t['durationMs']:>9}  "
            f"{t['status']:6}  {t['spanCount']}"
        )
    lines.append(f"({body.get('bufferUsed', 0)}/{body.get('bufferSize', 0)} in the buffer)")
    return lines
