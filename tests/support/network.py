"""Enterprise-network parts for tests, all real and on loopback: a private CA with server and
client certificates (trustme), HTTPS upstreams (optionally requiring a client certificate),
and a real forward proxy (proxy.py, in its own process) that records what it forwards."""

from __future__ import annotations

import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from tests.support.servers import serve_app

if TYPE_CHECKING:
    import trustme

ROOT = Path(__file__).resolve().parents[2]
PROXY_LOGIN = ("proxy-user", "proxy-secret-8e1f")
KEY_PASSPHRASE = "key-passphrase-41c9"


@dataclass(frozen=True)
class Pki:
    """Files on disk: the private CA, a server certificate for `localhost`, and a client
    certificate from a second CA (plain and passphrase-protected keys)."""

    ca: trustme.CA
    client_ca: trustme.CA
    ca_file: Path
    server_cert: trustme.LeafCert
    server_chain: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path

    def server_context(self, *, client_ca: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        if client_ca:
            self.client_ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def make_pki(folder: Path) -> Pki:
    import trustme  # ~0.1 s: imported by the tests that build a CA, not at collection

    ca, client_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost")
    client = client_ca.issue_cert("gateway.client.example", common_name="gateway.client.example")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    with open(folder / "server.pem", "wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSPHRASE.encode()),
    )
    (folder / "client-encrypted.key").write_bytes(encrypted)
    return Pki(
        ca,
        client_ca,
        folder / "ca.pem",
        server,
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
        folder / "client-encrypted.key",
    )


def whoami_app() -> web.Application:
    """Answers every request with the path and the client certificate's common name."""

    async def answer(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        names = [v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"]
        return web.json_response({"path": request.path, "client": names[0] if names else None})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@contextmanager
def https_upstream(pki: Pki) -> Iterator[str]:
    """`https://localhost:PORT`, the name its certificate is for."""
    with serve_app(whoami_app(), ssl_context=pki.server_context()) as url:
        yield url.replace("127.0.0.1", "localhost")


class _Whoami(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.connection, ssl.SSLSocket)
        peer = self.connection.getpeercert() or {}
        subject = peer.get("subject", ())
        assert isinstance(subject, tuple)  # RDNs of (name, value) pairs, never a string
        names = [pair[1] for rdn in subject for pair in rdn if pair[0] == "commonName"]
        body = json.dumps({"path": self.path, "client": names[0] if names else None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _MutualServer(http.server.ThreadingHTTPServer):
    """Requires a client certificate and, like nginx, sends the TLS alert when there is none
    and reads what the client sent before closing (a close with unread bytes would reset the
    connection and could lose the alert). asyncio's own TLS servers drop the alert."""

    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            raw = socket.socket(fileno=tls.detach())
            raw.settimeout(5)
            try:
                raw.shutdown(socket.SHUT_WR)
                while raw.recv(65536):
                    pass
            except OSError:
                pass
            raw.close()
            return
        try:
            _Whoami(tls, client_address, self)
        finally:
            tls.close()


@contextmanager
def mutual_tls_upstream(pki: Pki) -> Iterator[str]:
    """`https://localhost:PORT`, requiring a certificate from the client CA."""
    server = _MutualServer(("127.0.0.1", 0), _Whoami)
    server.context = pki.server_context(client_ca=True)
    # `shutdown()` returns once the serving loop next wakes: every 0.5 s by default, which
    # each test using this server waited at its end.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass(frozen=True)
class ForwardProxy:
    url: str  # with the login
    bare: str  # without
    record: Path

    def forwarded(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []


@contextmanager
def forward_proxy(folder: Path, watch: str = "") -> Iterator[ForwardProxy]:
    """proxy.py on an ephemeral port, requiring `PROXY_LOGIN`; a header holding `watch` is
    recorded as a leak."""
    port_file, record = folder / "proxy.port", folder / "proxy.record"
    env = {
        **os.environ,
        "NAFTIKO_PROXY_RECORD": str(record),
        "NAFTIKO_PROXY_WATCH": watch,
        "PYTHONPATH": str(ROOT),
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
            "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
            "--basic-auth", ":".join(PROXY_LOGIN), "--log-level", "WARNING",
            "--log-file", str(folder / "proxy.log"),
            "--plugins", "tests.support.proxy_record.RecordRequests",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxy.py did not start (exit {process.poll()})")
            time.sleep(0.02)  # polling the port file for readiness, bounded above
        port = int(port_file.read_text().split()[0])
        user, password = PROXY_LOGIN
        yield ForwardProxy(
            f"http://{user}:{password}@127.0.0.1:{port}", f"http://127.0.0.1:{port}", record
        )
    finally:
        process.terminate()
        process.wait(10)
