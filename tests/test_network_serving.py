"""`naftiko run` in a company network: the seed served over HTTPS (`--tls-cert`) and called
by the openai SDK trusting the private CA, its upstream reached through a real forward proxy
with a client certificate; the connection limits hold over TLS; a bad certificate file stops
the start with one line."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from naftiko.engine.tls import (
    CertificateError,
    ClientCert,
    ServedCert,
    TlsOptions,
    served_certs,
)
from naftiko.runtime import build
from naftiko.settings import Settings
from naftiko.tools import control_client
from tests.support.groq import TOKEN, groq_app
from tests.support.network import ForwardProxy, Pki, forward_proxy, make_pki
from tests.support.process import Running, naftiko_run
from tests.support.servers import Recorder, serve_app
from tests.support.specs import seed_for
from tests.support.threaded import naftiko_thread
from tests.support.yamlio import dump_yaml, load_yaml

MAX_CONNECTIONS = 2


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    with forward_proxy(tmp_path_factory.mktemp("proxy"), watch=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def groq(pki: Pki) -> Iterator[tuple[str, Recorder]]:
    """The fake GroqCloud over HTTPS, requiring a client certificate."""
    recorder = Recorder()
    with serve_app(groq_app(recorder), ssl_context=pki.server_context(client_ca=True)) as url:
        yield url.replace("127.0.0.1", "localhost"), recorder


@pytest.fixture(scope="module")
def gateway(
    pki: Pki,
    proxy: ForwardProxy,
    groq: tuple[str, Recorder],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Running]:
    spec = seed_for(groq[0], tmp_path_factory.mktemp("seed"))
    data = load_yaml(spec.read_text())
    data["capability"]["exposes"].append({"type": "control", "port": 0})
    spec.write_text(dump_yaml(data, sort_keys=False))
    args = (
        "--tls-cert", str(pki.server_chain), "--tls-key", str(pki.server_key),
        "--ca-bundle", str(pki.ca_file),
        "--client-cert", f"groq-batch={pki.client_cert},{pki.client_key}",
        "--max-connections", str(MAX_CONNECTIONS),
    )  # fmt: skip
    env = {"GROQ_API_KEY": TOKEN, "HTTPS_PROXY": proxy.url}
    with naftiko_run(spec, args=args, env=env, adapters=3) as running:
        yield running


def test_the_seed_over_https_answers_the_openai_sdk_trusting_the_private_ca(
    gateway: Running, pki: Pki, proxy: ForwardProxy, groq: tuple[str, Recorder]
) -> None:
    import openai  # here, not at collection: the SDK takes ~0.4 s to import

    base = gateway.url("groq-batch-rest")
    assert base.startswith("https://")
    before = len(proxy.forwarded())
    with httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_file))) as http:
        client = openai.OpenAI(
            api_key="caller-key",
            base_url=base.replace("127.0.0.1", "localhost") + "/v1/openai/v1",
            http_client=http,
            max_retries=0,
        )
        batch = client.batches.retrieve("batch_42")
    assert batch.id == "batch_42"
    assert [r.path for r in groq[1].requests] == ["/openai/v1/batches/batch_42"]
    assert proxy.forwarded()[before:] == [f"CONNECT localhost:{groq[0].rsplit(':', 1)[1]}"]


def test_naftiko_health_reads_a_control_port_that_serves_tls(gateway: Running) -> None:
    url = gateway.url("control")
    assert url.startswith("https://")
    where = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
    live, ready = (
        control_client.get(where, "/health/live"),
        control_client.get(where, "/health/ready"),
    )
    assert control_client.health_lines(live, ready)[0]
    assert (live.status, ready.status) == (200, 200)


def _tls_socket(url: str, pki: Pki) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    port = int(url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def _answer(conn: ssl.SSLSocket) -> tuple[int, dict[str, object]]:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data and data.endswith(b"}"):
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_headers_past_the_limit_get_a_431_over_tls(gateway: Running, pki: Pki) -> None:
    with _tls_socket(gateway.url("groq-batch-rest"), pki) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        status, problem = _answer(conn)
    assert (status, problem["detail"]) == (431, "request headers are larger than 65536 bytes")


def test_connections_past_the_limit_are_answered_503_over_tls(gateway: Running, pki: Pki) -> None:
    url = gateway.url("groq-batch-mcp")
    held = [_tls_socket(url, pki) for _ in range(MAX_CONNECTIONS)]
    try:
        with _tls_socket(url, pki) as extra:
            status, problem = _answer(extra)
        assert (status, problem["detail"]) == (503, "too many connections; retry later")
    finally:
        for conn in held:
            conn.close()


def test_a_certificate_for_one_adapter_serves_only_that_adapter_over_https(
    tmp_path: Path, pki: Pki
) -> None:
    spec = seed_for("https://localhost:1", tmp_path)
    served = (ServedCert("groq-batch-rest", pki.server_chain, pki.server_key),)
    runtime = build([spec], Settings(tls=TlsOptions(served=served)), {"GROQ_API_KEY": TOKEN})
    assert {s.namespace: s.url.split(":")[0] for s in runtime.served} == {
        "groq-batch-rest": "https",
        "groq-batch-mcp": "http",
    }


@pytest.mark.parametrize(
    "sent", [b"", bytes.fromhex("16030100a5010000a10303")], ids=["silent", "half a hello"]
)
def test_a_tls_handshake_not_done_within_the_header_timeout_is_dropped(
    tmp_path: Path, pki: Pki, sent: bytes
) -> None:
    # Before any protocol, so outside every other limit: asyncio's default held it 60 s.
    spec = seed_for("https://localhost:1", tmp_path)
    served = (ServedCert(None, pki.server_chain, pki.server_key),)
    settings = Settings(tls=TlsOptions(served=served), header_timeout=1)
    with naftiko_thread(spec, env={"GROQ_API_KEY": TOKEN}, settings=settings) as gateway:
        host, port = gateway.url("groq-batch-rest").removeprefix("https://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(sent)
            # Dropped (an end or a reset), long before the client's 30 s.
            with contextlib.suppress(ConnectionResetError):
                assert conn.recv(65536) == b""


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        (
            TlsOptions(served=(ServedCert(None, Path("{server}"), Path("{client_key}")),)),
            "--tls-cert: {server}: the key does not belong to the certificate",
        ),
        (
            TlsOptions(served=(ServedCert("groq-batch-rest", Path("{server}")),)),
            "--tls-cert groq-batch-rest: {server}: no private key in it (give the key file)",
        ),
        (
            TlsOptions(ca_bundle=Path("{server_key}")),
            "--ca-bundle: {server_key}: no certificate found",
        ),
        (
            TlsOptions(
                client_certs=(ClientCert("groq-batch", Path("{client}"), Path("{encrypted}")),)
            ),
            "--client-cert groq-batch: the key is encrypted (give --client-key-password)",
        ),
        (
            TlsOptions(served=(ServedCert("groq-batch-skill", Path("{server}")),)),
            "--tls-cert groq-batch-skill: no adapter 'groq-batch-skill'",
        ),
    ],
)
def test_an_unusable_certificate_stops_the_start_naming_the_flag_and_the_file(
    tmp_path: Path, pki: Pki, tls: TlsOptions, message: str
) -> None:
    names = {
        "server": pki.server_chain,
        "server_key": pki.server_key,
        "client": pki.client_cert,
        "client_key": pki.client_key,
        "encrypted": pki.client_key_encrypted,
    }
    filled = TlsOptions(
        ca_bundle=Path(str(tls.ca_bundle).format(**names)) if tls.ca_bundle else None,
        client_certs=tuple(
            ClientCert(
                c.namespace, Path(str(c.cert).format(**names)), Path(str(c.key).format(**names))
            )
            for c in tls.client_certs
        ),
        served=tuple(
            ServedCert(
                c.namespace,
                Path(str(c.cert).format(**names)),
                Path(str(c.key).format(**names)) if c.key else None,
            )
            for c in tls.served
        ),
    )
    spec = seed_for("https://localhost:1", tmp_path)
    with pytest.raises(CertificateError) as raised:
        build([spec], Settings(tls=filled), {"GROQ_API_KEY": TOKEN})
    assert str(raised.value) == message.format(**names)


def test_a_bad_certificate_file_stops_run_at_start_with_one_line(tmp_path: Path) -> None:
    # The flags as `naftiko run` reads them (cli_run), then the runtime it builds: the error's
    # text is the one line the console script prints after `naftiko: `, exit code 1 (the
    # process is tests/test_run_cli.py's).
    spec = seed_for("https://localhost:1", tmp_path)
    served = served_certs(["missing.pem"], ["missing.key"])
    with pytest.raises(CertificateError) as raised:
        build([spec], Settings(tls=TlsOptions(served=served)), {"GROQ_API_KEY": TOKEN})
    assert str(raised.value) == "--tls-cert: missing.pem: no such file"
