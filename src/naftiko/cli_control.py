"""`naftiko health/status/metrics/traces`: a running capability asked through its control
port (`tools/control_client.py`); `health` of a spec without one checks its ports."""

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

_ADDRESS = typer.Option("--address", help="Control port address (or NAFTIKO_CONTROL_ADDRESS).")
_PORT = typer.Option("--port", help="Control port (or NAFTIKO_CONTROL_PORT).")


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
        typer.echo(unavailable.format(answer.status), err=True)
        raise typer.Exit(1)
    return client, answer


def health(
    spec: Annotated[
        Path | None, typer.Argument(help="The spec being served.", show_default=False)
    ] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """Liveness and readiness of a running capability; exit 0 iff ready."""
    if spec is not None and address is None and port is None and not _has_control(spec):
        from naftiko.health import health as runtime_health

        ok, detail = runtime_health(spec)  # no control port: are the adapters' ports open?
        typer.echo(f"{'healthy' if ok else 'unhealthy'}: {detail}")
        raise typer.Exit(0 if ok else 1)
    client, where = _control(address, port, spec)
    ok, lines = client.health_lines(
        client.get(where, "/health/live"), client.get(where, "/health/ready")
    )
    typer.echo("\n".join(lines))
    raise typer.Exit(0 if ok else 1)


def _has_control(spec: Path) -> bool:
    from naftiko.spec.loader import load

    return any(a.type == "control" and a.port for a in load(spec).body.exposes)


def status(
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """The running capability's status (needs `management.info: true`)."""
    _, answer = _read(address, port, "/status", "status unavailable ({}): enable management.info")
    typer.echo(json.dumps(answer.json(), indent=2))


def metrics(
    filter_: Annotated[
        str | None, typer.Option("--filter", help="Only lines matching this regex.")
    ] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
) -> None:
    """The Prometheus metrics of the running capability."""
    client, answer = _read(address, port, "/metrics", "Metrics unavailable ({}).")
    try:
        text = client.filtered(answer.body.decode(), filter_)
    except re.error as exc:
        raise typer.BadParameter(str(exc), param_hint="--filter") from None
    typer.echo(text, nl=False)


def traces(
    trace_id: Annotated[
        str | None, typer.Argument(help="A trace id: its span tree.", show_default=False)
    ] = None,
    operation: Annotated[str | None, typer.Option("--operation")] = None,
    status: Annotated[str | None, typer.Option("--status", help="OK or ERROR.")] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    port: Annotated[int | None, _PORT] = None,
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
        typer.echo(what, err=True)
        raise typer.Exit(1)
    body = answer.json()
    lines = client.trace_lines(body) if trace_id else client.list_lines(body)
    typer.echo("\n".join(lines))
