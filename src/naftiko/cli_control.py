"""`naftiko health/status/metrics/traces`: a running capability asked through its control
port (`tools/control_client.py`); `health` of a spec without one checks its ports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

_address = click.option("--address", help="Control port address (or NAFTIKO_CONTROL_ADDRESS).")
_port = click.option("--port", type=int, help="Control port (or NAFTIKO_CONTROL_PORT).")


def _control(address: str | None, port: int | None, spec: Path | None = None) -> Any:
    import os

    from naftiko.tools import control_client

    return control_client, control_client.locate(address, port, os.environ, Path.cwd(), spec)


def _read(address: str | None, port: int | None, path: str, unavailable: str) -> Any:
    """(the control client, its answer at `path`); any answer but 200: `unavailable` (with
    its status) on stderr and exit code 1."""
    client, where = _control(address, port)
    answer = client.get(where, path)
    if answer.status != 200:
        click.echo(unavailable.format(answer.status), err=True)
        raise click.exceptions.Exit(1)
    return client, answer


@click.command()
@click.argument(
    "spec", required=False, type=click.Path(path_type=Path), help="The spec being served."
)
@_address
@_port
def health(spec: Path | None, address: str | None, port: int | None) -> None:
    """Liveness and readiness of a running capability; exit 0 iff ready."""
    if spec is not None and address is None and port is None and not _has_control(spec):
        from naftiko.health import health as runtime_health

        ok, detail = runtime_health(spec)  # no control port: are the adapters' ports open?
        click.echo(f"{'healthy' if ok else 'unhealthy'}: {detail}")
        raise click.exceptions.Exit(0 if ok else 1)
    client, where = _control(address, port, spec)
    ok, lines = client.health_lines(
        client.get(where, "/health/live"), client.get(where, "/health/ready")
    )
    click.echo("\n".join(lines))
    raise click.exceptions.Exit(0 if ok else 1)


def _has_control(spec: Path) -> bool:
    from naftiko.spec.loader import load

    return any(a.type == "control" and a.port for a in load(spec).body.exposes)


@click.command()
@_address
@_port
def status(address: str | None, port: int | None) -> None:
    """The running capability's status (needs `management.info: true`)."""
    _, answer = _read(address, port, "/status", "status unavailable ({}): enable management.info")
    click.echo(json.dumps(answer.json(), indent=2))


@click.command()
@click.option("--filter", "filter_", help="Only lines matching this regex.")
@_address
@_port
def metrics(filter_: str | None, address: str | None, port: int | None) -> None:
    """The Prometheus metrics of the running capability."""
    client, answer = _read(address, port, "/metrics", "Metrics unavailable ({}).")
    try:
        text = client.filtered(answer.body.decode(), filter_)
    except re.error as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    click.echo(text, nl=False)


@click.command()
@click.argument("trace_id", required=False, help="A trace id: its span tree.")
@click.option("--operation", help="Only traces of this operation.")
@click.option("--status", help="OK or ERROR.")
@_address
@_port
def traces(
    trace_id: str | None,
    operation: str | None,
    status: str | None,
    address: str | None,
    port: int | None,
) -> None:
    """Recent traces of the running capability, or one trace's span tree."""
    from urllib.parse import quote, urlencode

    client, where = _control(address, port)
    if trace_id is not None:
        answer = client.get(where, f"/traces/{quote(trace_id, safe='')}")
    else:
        query = {k: v for k, v in (("operation", operation), ("status", status)) if v}
        answer = client.get(where, "/traces" + (f"?{urlencode(query)}" if query else ""))
    if answer.status != 200:
        what = (
            f"trace {trace_id} not found"
            if answer.status == 404 and trace_id
            else (f"traces unavailable ({answer.status}): enable observability traces.local")
        )
        click.echo(what, err=True)
        raise click.exceptions.Exit(1)
    body = answer.json()
    lines = client.trace_lines(body) if trace_id else client.list_lines(body)
    click.echo("\n".join(lines))
