"""Upstream calls in a company network, against real parts on loopback: a private CA
(trustme), HTTPS upstreams (one requiring a client certificate), and a real forward proxy
(proxy.py) that records the CONNECTs it tunnels. The gateway is served in-process."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from naftiko.engine.options import ProxyOptions
from naftiko.engine.tls import CertificateError, ClientCert, TlsOptions
from naftiko.settings import Settings
from tests.support.inprocess import serving
from tests.support.network import (
    KEY_PASSPHRASE,
    PROXY_LOGIN,
    ForwardProxy,
    Pki,
    forward_proxy,
    https_upstream,
    make_pki,
    mutual_tls_upstream,
    whoami_app,
)
from tests.support.servers import serve_app
from tests.support.yamlio import dump_yaml


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    with forward_proxy(tmp_path_factory.mktemp("proxy")) as running:
        yield running


@pytest.fixture(scope="module")
def upstream(pki: Pki) -> Iterator[str]:
    with https_upstream(pki) as url:
        yield url


@pytest.fixture(scope="module")
def mutual(pki: Pki) -> Iterator[str]:
    with mutual_tls_upstream(pki) as url:
        yield url


def spec(folder: Path, base_uri: str) -> Path:
    document: dict[str, Any] = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Network"},
        "binds": [{"namespace": "env", "keys": {"KEY_PASS": "KEY_PASS"}}],
        "capability": {
            "consumes": [
                {
                    "namespace": "partner",
                    "type": "http",
                    "baseUri": base_uri,
                    "resources": [
                        {
                            "name": "whoami",
                            "path": "/whoami",
                            "operations": [{"name": "get-whoami", "method": "GET"}],
                        }
                    ],
                }
            ],
            "exposes": [
                {
                    "type": "rest",
                    "namespace": "net",
                    "port": 0,
                    "resources": [
                        {
                            "path": "/whoami",
                            "operations": [{"method": "GET", "call": "partner.get-whoami"}],
                        }
                    ],
                }
            ],
        },
    }
    path = folder / "network.yaml"
    path.write_text(dump_yaml(document, sort_keys=False))
    return path


async def _call(
    path: Path, env: dict[str, str], settings: Settings | None = None
) -> tuple[int, Any]:
    env = {"KEY_PASS": "unused", **env}
    async with serving(path, env=env, settings=settings) as gateway, gateway.client("net") as http:
        response = await http.get("/whoami")
    return response.status_code, response.json()


def _problem(detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": "Bad Gateway", "status": 502, "detail": detail}


async def test_an_https_upstream_is_tunnelled_through_https_proxy_with_its_credentials(
    tmp_path: Path, pki: Pki, proxy: ForwardProxy, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(proxy.forwarded())
    env = {"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": str(pki.ca_file)}
    with caplog.at_level(logging.DEBUG):
        status, body = await _call(spec(tmp_path, upstream), env)
    assert (status, body) == (200, {"path": "/whoami", "client": None})
    port = upstream.rsplit(":", 1)[1]
    assert proxy.forwarded()[before:] == [f"CONNECT localhost:{port}"]
    assert PROXY_LOGIN[1] not in caplog.text


async def test_a_plain_http_upstream_goes_through_http_proxy_as_an_absolute_request(
    tmp_path: Path, proxy: ForwardProxy
) -> None:
    before = len(proxy.forwarded())
    with serve_app(whoami_app()) as url:
        base = url.replace("127.0.0.1", "localhost")
        status, body = await _call(spec(tmp_path, base), {"http_proxy": proxy.url})
    assert (status, body["path"]) == (200, "/whoami")
    port = base.rsplit(":", 1)[1]
    assert proxy.forwarded()[before:] == [f"GET localhost:{port}/whoami"]


@pytest.mark.parametrize(
    "no_proxy",
    ["localhost", ".localhost", "*", "127.0.0.1,localhost:{port}", "example.com,LOCALHOST"],
)
async def test_no_proxy_hosts_are_reached_directly(
    tmp_path: Path, pki: Pki, proxy: ForwardProxy, upstream: str, no_proxy: str
) -> None:
    before = len(proxy.forwarded())
    port = upstream.rsplit(":", 1)[1]
    env = {
        "https_proxy": proxy.url,
        "no_proxy": no_proxy.format(port=port),
        "NO_PROXY": "nothing.example",  # the lower-case form wins, as in curl and requests
        "SSL_CERT_FILE": str(pki.ca_file),
    }
    assert (await _call(spec(tmp_path, upstream), env))[0] == 200
    assert proxy.forwarded()[before:] == []


async def test_the_proxy_flag_overrides_the_environment(
    tmp_path: Path, pki: Pki, proxy: ForwardProxy, upstream: str
) -> None:
    before = len(proxy.forwarded())
    settings = Settings(proxy=ProxyOptions(proxy.url), tls=TlsOptions(ca_bundle=pki.ca_file))
    env = {"HTTPS_PROXY": "http://127.0.0.1:9"}  # nothing listens there
    assert (await _call(spec(tmp_path, upstream), env, settings))[0] == 200
    assert len(proxy.forwarded()) == before + 1


async def test_a_proxy_refusal_is_a_502_naming_the_namespace_and_logged_once(
    tmp_path: Path, pki: Pki, proxy: ForwardProxy, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = proxy.url.replace(PROXY_LOGIN[1], "wrong-password")
    env = {"HTTPS_PROXY": wrong, "SSL_CERT_FILE": str(pki.ca_file)}
    with caplog.at_level(logging.WARNING, logger="naftiko"):
        status, body = await _call(spec(tmp_path, upstream), env)
    detail = (
        "upstream 'partner' failed "
        "(the proxy refused the tunnel: 407 Proxy Authentication Required)"
    )
    assert (status, body) == (502, _problem(detail))
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "wrong-password" not in caplog.text


async def test_an_unreachable_proxy_is_a_502_naming_the_namespace(
    tmp_path: Path, upstream: str
) -> None:
    status, body = await _call(spec(tmp_path, upstream), {"HTTPS_PROXY": "127.0.0.1:9"})
    detail = "upstream 'partner' failed (the proxy is unreachable (Connection refused))"
    assert (status, body) == (502, _problem(detail))


async def test_an_untrusted_certificate_is_a_502_and_never_accepted(
    tmp_path: Path, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="naftiko"):
        status, body = await _call(spec(tmp_path, upstream), {})
    detail = (
        "upstream 'partner' failed "
        "(TLS: the certificate is not trusted (unknown certificate authority))"
    )
    assert (status, body) == (502, _problem(detail))
    assert [r.levelname for r in caplog.records] == ["WARNING"]


async def test_the_ca_bundle_flag_adds_the_private_ca(
    tmp_path: Path, pki: Pki, upstream: str
) -> None:
    settings = Settings(tls=TlsOptions(ca_bundle=pki.ca_file))
    assert (await _call(spec(tmp_path, upstream), {}, settings))[0] == 200


async def test_a_hostname_mismatch_is_a_502_that_names_no_address(
    tmp_path: Path, pki: Pki, upstream: str
) -> None:
    by_address = upstream.replace("localhost", "127.0.0.1")  # the certificate is for localhost
    status, body = await _call(spec(tmp_path, by_address), {"SSL_CERT_FILE": str(pki.ca_file)})
    detail = "upstream 'partner' failed (TLS: the certificate does not match the host name)"
    assert (status, body) == (502, _problem(detail))


async def test_a_client_certificate_is_presented_to_its_namespace(
    tmp_path: Path, pki: Pki, mutual: str
) -> None:
    cert = ClientCert("partner", pki.client_cert, pki.client_key)
    settings = Settings(tls=TlsOptions(ca_bundle=pki.ca_file, client_certs=(cert,)))
    status, body = await _call(spec(tmp_path, mutual), {}, settings)
    assert (status, body) == (200, {"path": "/whoami", "client": "gateway.client.example"})


@pytest.mark.parametrize("source", ["@FILE", "KEY_PASS"])
async def test_an_encrypted_client_key_takes_its_passphrase_from_a_file_or_a_bind(
    tmp_path: Path, pki: Pki, mutual: str, source: str
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(KEY_PASSPHRASE + "\n")
    cert = ClientCert("partner", pki.client_cert, pki.client_key_encrypted)
    options = TlsOptions(
        ca_bundle=pki.ca_file,
        client_certs=(cert,),
        key_passwords={"partner": source.replace("FILE", str(secret))},
    )
    env = {"KEY_PASS": KEY_PASSPHRASE}
    status, body = await _call(spec(tmp_path, mutual), env, Settings(tls=options))
    assert (status, body["client"]) == (200, "gateway.client.example")


async def test_without_its_client_certificate_a_mutual_tls_upstream_is_a_502(
    tmp_path: Path, pki: Pki, mutual: str
) -> None:
    settings = Settings(tls=TlsOptions(ca_bundle=pki.ca_file))
    status, body = await _call(spec(tmp_path, mutual), {}, settings)
    assert status == 502
    detail = "upstream 'partner' failed (TLS: the upstream requires a client certificate)"
    assert (status, body) == (502, _problem(detail))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            TlsOptions(ca_bundle=Path("/nonexistent/ca.pem")),
            "--ca-bundle: /nonexistent/ca.pem: no such file",
        ),
        (
            TlsOptions(client_certs=(ClientCert("elsewhere", Path("c.pem")),)),
            "--client-cert elsewhere: no consumed namespace 'elsewhere'",
        ),
    ],
)
async def test_an_unusable_certificate_setting_stops_the_start_with_one_line(
    tmp_path: Path, options: TlsOptions, message: str
) -> None:
    with pytest.raises(CertificateError) as raised:
        path, env = spec(tmp_path, "https://localhost:1"), {"KEY_PASS": "x"}
        async with serving(path, env=env, settings=Settings(tls=options)):
            pass
    assert str(raised.value) == message


async def test_a_proxy_asking_credentials_for_a_plain_http_call_is_a_502_not_its_answer(
    tmp_path: Path, proxy: ForwardProxy
) -> None:
    with serve_app(whoami_app()) as url:
        status, body = await _call(spec(tmp_path, url), {"HTTP_PROXY": proxy.bare})
    detail = (
        "upstream 'partner' failed "
        "(the proxy refused the request: 407 Proxy Authentication Required)"
    )
    assert (status, body) == (502, _problem(detail))


@contextmanager
def _echoing_proxy(status: bytes) -> Iterator[str]:
    """A proxy whose reason phrase repeats what it was sent: the request line (the upstream's
    address) and its Proxy-Authorization (the operator's credential)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                lines = head.split(b"\r\n")
                said = b" ".join([lines[0], *(h for h in lines if h.startswith(b"Proxy-Auth"))])
                conn.sendall(b"HTTP/1.1 %s %s\r\nContent-Length: 0\r\n\r\n" % (status, said))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://operator:pr0xy-s3cret@127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(10)


@pytest.mark.parametrize(
    ("scheme", "status", "detail"),
    [
        ("https", b"403", "the proxy refused the tunnel: 403 Forbidden"),
        ("http", b"407", "the proxy refused the request: 407 Proxy Authentication Required"),
    ],
)
async def test_a_proxy_refusal_names_the_standard_reason_never_the_proxys_own_words(
    tmp_path: Path, scheme: str, status: bytes, detail: str
) -> None:
    with _echoing_proxy(status) as proxy:
        settings = Settings(proxy=ProxyOptions(proxy))
        got = await _call(spec(tmp_path, f"{scheme}://internal.example:8443"), {}, settings)
    assert got == (502, _problem(f"upstream 'partner' failed ({detail})"))
