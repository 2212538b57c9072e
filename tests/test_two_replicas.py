"""Two `naftiko run` replicas of the seed behind nginx (the Debian package, started here on
loopback ports with a config in a temporary folder), as deploy/compose runs them. Under a
bounded load one replica is SIGKILLed and started again: idempotent REST calls see no failure
(nginx retries them on the other replica); MCP `tools/call` works through nginx and against
either replica; a draining replica's readiness turns 503 while it still serves."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.support.groq import TOKEN
from tests.support.load import Load
from tests.support.process import Running, naftiko_run
from tests.support.servers import Recorder
from tests.support.specs import seed_for
from tests.support.yamlio import dump_yaml, load_yaml

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ENV = {"GROQ_API_KEY": TOKEN}
LOAD_THREADS = 4
LOAD_BOUND = 5_000  # requests per thread at most
MCP_HEADERS = {"accept": "application/json, text/event-stream"}

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs nginx-light)"
)


def _free_ports(count: int) -> list[int]:
    """Fixed ports, so that a restarted replica is where nginx expects it. Taken below the
    kernel's ephemeral range: a port from inside it, free when picked, could be handed to
    another test's outgoing connection before the replica binds it ("already in use")."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    ports: list[int] = []
    for port in random.sample(range(10_000, low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports below {low}")


def _replica_spec(upstream: str, folder: Path, rest: int, mcp: int, control: int) -> Path:
    folder.mkdir()
    spec = seed_for(upstream, folder)
    data = load_yaml(spec.read_text())
    exposes = data["capability"]["exposes"]
    exposes[0]["port"], exposes[1]["port"] = rest, mcp
    exposes.append({"type": "control", "port": control, "management": {"health": True}})
    spec.write_text(dump_yaml(data, sort_keys=False))
    return spec


NGINX_CONF = """
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream rest {{
        server 127.0.0.1:{rest_a} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:{rest_b} max_fails=1 fail_timeout=2s;
        keepalive 16;
    }}
    upstream mcp {{
        server 127.0.0.1:{mcp_a} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:{mcp_b} max_fails=1 fail_timeout=2s;
        keepalive 16;
    }}
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 2;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_connect_timeout 2s;
    server {{ listen 127.0.0.1:{front_rest}; location / {{ proxy_pass http://rest; }} }}
    server {{ listen 127.0.0.1:{front_mcp}; location / {{ proxy_pass http://mcp; }} }}
}}
"""


@contextmanager
def _nginx(folder: Path, **ports: int) -> Iterator[None]:
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=folder, **ports))
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports["front_rest"]), 1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stderr is not None:
            process.stderr.close()


def _tools_call(url: str) -> dict[str, Any]:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "retrieves-batch", "arguments": {"batch_id": "b-1"}},
    }
    answer = httpx.post(url + "/mcp", json=call, headers=MCP_HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def _replica(spec: Path, *args: str) -> Any:
    return naftiko_run(spec, args=args, env=ENV, adapters=3)


def test_two_replicas_behind_nginx_survive_a_killed_replica_and_drain_out_of_rotation(
    groq_upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    rest_a, mcp_a, control_a, rest_b, mcp_b, control_b, front_rest, front_mcp = _free_ports(8)
    spec_a = _replica_spec(groq_upstream[0], tmp_path / "a", rest_a, mcp_a, control_a)
    spec_b = _replica_spec(groq_upstream[0], tmp_path / "b", rest_b, mcp_b, control_b)
    ports = {"rest_a": rest_a, "rest_b": rest_b, "mcp_a": mcp_a, "mcp_b": mcp_b}
    front = f"http://127.0.0.1:{front_rest}/v1/openai/v1/batches/b-1"
    with ExitStack() as stack:
        replica_a: Running = stack.enter_context(_replica(spec_a))
        replica_b: Running = stack.enter_context(_replica(spec_b, "--drain-delay", "2"))
        stack.enter_context(
            _nginx(tmp_path / "nginx", front_rest=front_rest, front_mcp=front_mcp, **ports)
        )
        with Load(front, threads=LOAD_THREADS, bound=LOAD_BOUND) as load:
            load.until(100)
            replica_a.process.kill()  # SIGKILL: no drain, connections reset
            replica_a.process.wait(10)
            load.until(100)
            restarted = stack.enter_context(_replica(spec_a))
            load.until(100)
        assert load.failures == []
        # Stateless MCP: through the balancer, and against either replica directly.
        for url in (
            f"http://127.0.0.1:{front_mcp}",
            restarted.url("groq-batch-mcp"),
            replica_b.url("groq-batch-mcp"),
        ):
            result = _tools_call(url)
            assert result.get("isError") is not True
            assert "b-1" in result["content"][0]["text"]
        # Draining: readiness turns 503 while the replica still serves, so a balancer that
        # polls it stops sending before anyone is refused.
        ready = f"http://127.0.0.1:{control_b}/health/ready"
        assert httpx.get(ready).status_code == 200
        replica_b.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while httpx.get(ready).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        direct = f"http://127.0.0.1:{rest_b}/v1/openai/v1/batches/b-2"
        assert httpx.get(direct, timeout=10).status_code == 200
        assert replica_b.process.wait(15) == 0
