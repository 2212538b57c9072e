"""Certificates read once at start, into `ssl.SSLContext`s: the trust anchors of upstream
calls (the system store, `SSL_CERT_FILE`, `--ca-bundle`), a client certificate per consumed
namespace (mutual TLS), the certificate an adapter serves. A file that cannot be used stops
the start with one line naming the flag and the file. Verification is never turned off."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from naftiko.errors import NaftikoError


class CertificateError(NaftikoError):
    """A certificate, key or CA bundle given at start cannot be used."""


@dataclass(frozen=True)
class ClientCert:
    """`--client-cert NAMESPACE=CERT[,KEY]`; the key's passphrase is resolved at start."""

    namespace: str
    cert: Path
    key: Path | None = None

    @classmethod
    def parse(cls, text: str) -> ClientCert:
        namespace, eq, files = text.partition("=")
        if not eq or not namespace.strip() or not files.strip():
            raise ValueError("--client-cert: expected NAMESPACE=CERT[,KEY]")
        cert, _, key = files.partition(",")
        return cls(namespace.strip(), Path(cert.strip()), Path(key.strip()) if key else None)


@dataclass(frozen=True)
class ServedCert:
    """The certificate (and key) an adapter serves; `namespace` None means every adapter."""

    namespace: str | None
    cert: Path
    key: Path | None = None


@dataclass(frozen=True)
class TlsOptions:
    """What the flags say about certificates."""

    ca_bundle: Path | None = None
    client_certs: tuple[ClientCert, ...] = ()
    # NAMESPACE → `@FILE` (a file holding the passphrase) or the name of a bound variable.
    key_passwords: Mapping[str, str] = field(default_factory=dict)
    served: tuple[ServedCert, ...] = ()


def split_namespace(text: str) -> tuple[str | None, str]:
    """`NAMESPACE=FILE` or `FILE` (a path whose part before `=` has a `/` is a path)."""
    head, eq, tail = text.partition("=")
    if eq and head and "/" not in head and tail:
        return head, tail
    return None, text


def served_certs(certs: list[str], keys: list[str]) -> tuple[ServedCert, ...]:
    """`--tls-cert [NAMESPACE=]FILE` and `--tls-key [NAMESPACE=]FILE` paired by namespace."""
    by_ns = dict(split_namespace(k) for k in keys)
    paired = [split_namespace(c) for c in certs]
    unpaired = set(by_ns) - {ns for ns, _ in paired}
    if unpaired:
        name = next(iter(unpaired))
        flag = f"--tls-key {name}" if name else "--tls-key"
        raise ValueError(f"{flag}: no --tls-cert for it")
    return tuple(
        ServedCert(ns, Path(cert), Path(by_ns[ns]) if ns in by_ns else None) for ns, cert in paired
    )


def client_context(
    environ: Mapping[str, str],
    ca_bundle: Path | None,
    cert: ClientCert | None,
    password: str | None,
) -> ssl.SSLContext:
    """The system's trust store, plus `SSL_CERT_FILE` and `--ca-bundle`, plus a client
    certificate for one namespace."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # aiohttp speaks HTTP/1.1 only
    for source, path in (
        ("SSL_CERT_FILE", _not_yet_loaded(context, environ.get("SSL_CERT_FILE"))),
        ("--ca-bundle", ca_bundle),
    ):
        if path:
            _load(source, Path(path), lambda p: context.load_verify_locations(cafile=p))
    if cert is not None:
        flag = f"--client-cert {cert.namespace}"
        _chain(context, flag, cert.cert, cert.key, password, "give --client-key-password")
    return context


def system_store_only(environ: Mapping[str, str], ca_bundle: Path | None) -> bool:
    """Whether upstream calls trust exactly what OpenSSL's default paths give this process
    (its system store, or the process's own `SSL_CERT_FILE`): then aiohttp's own verified
    context, parsed when aiohttp was imported, is that context, and parsing the same bundle
    again would cost ~80 ms of start-up. A bundle that may not load is read by
    `client_context`, so its error stops the start as before."""
    if ca_bundle is not None:
        return False
    path = environ.get("SSL_CERT_FILE")
    if not path:
        return True
    if path != os.environ.get("SSL_CERT_FILE"):
        return False
    try:
        return b"-----BEGIN CERTIFICATE-----" in Path(path).read_bytes()
    except OSError:
        return False


def _not_yet_loaded(context: ssl.SSLContext, path: str | None) -> str | None:
    """`path`, unless OpenSSL has already read it into `context`: the default paths are the
    process's own `SSL_CERT_FILE` when it is set (a bundle parsed twice costs ~80 ms of
    start-up). A file it could not read (no CA certificate came of it) is loaded again,
    so its error is still given, as for any other."""
    if path and path == os.environ.get("SSL_CERT_FILE") and context.cert_store_stats()["x509_ca"]:
        return None
    return path


def server_context(cert: ServedCert) -> ssl.SSLContext:
    """An adapter's TLS: its certificate chain and key; TLS 1.2 and newer, HTTP/1.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    name = f"--tls-cert {cert.namespace}" if cert.namespace else "--tls-cert"
    _chain(context, name, cert.cert, cert.key, None, "serve an unencrypted key")
    return context


def read_password(source: str, lookup: Callable[[str], str | None], namespace: str) -> str:
    """`@FILE` (its first line) or a bound variable's value."""
    flag = f"--client-key-password {namespace}"
    if source.startswith("@"):
        try:
            text = Path(source[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CertificateError(f"{flag}: cannot read {source[1:]}: {exc.strerror}") from None
        return text.splitlines()[0] if text else ""
    value = lookup(source)
    if value is None:
        raise CertificateError(f"{flag}: no bound variable {source!r}")
    return value


def _chain(
    context: ssl.SSLContext,
    flag: str,
    cert: Path,
    key: Path | None,
    password: str | None,
    hint: str,
) -> None:
    def no_password() -> str:
        # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
        raise CertificateError(f"{flag}: the key is encrypted ({hint})")

    secret: str | Callable[[], str] = password if password is not None else no_password
    try:
        _load(flag, cert, lambda p: context.load_cert_chain(p, key, password=secret))
    except CertificateError as exc:
        if key is None and str(exc).endswith(": unusable"):
            # OpenSSL says only "PEM lib" for a certificate file without its key.
            missing = f"{flag}: {cert}: no private key in it (give the key file)"
            raise CertificateError(missing) from None
        raise


def _load(flag: str, path: Path, use: Callable[[Path], None]) -> None:
    try:
        use(path)
    except CertificateError:
        raise
    except FileNotFoundError as exc:
        missing = exc.filename or path
        raise CertificateError(f"{flag}: {missing}: no such file") from None
    except ssl.SSLError as exc:
        raise CertificateError(f"{flag}: {path}: {_openssl_words(exc)}") from None
    except OSError as exc:
        raise CertificateError(f"{flag}: {path}: {exc.strerror or type(exc).__name__}") from None


def _openssl_words(exc: ssl.SSLError) -> str:
    reasons = {
        "KEY_VALUES_MISMATCH": "the key does not belong to the certificate",
        "NO_START_LINE": "no PEM certificate or key found",
        "BAD_DECRYPT": "wrong passphrase for the key",
        "NO_CERTIFICATE_OR_CRL_FOUND": "no certificate found",
    }
    reason = exc.reason or ""
    return reasons.get(reason, reason.replace("_", " ").lower() or "unusable")


# OpenSSL's X509_V_ERR codes a caller may be told about in plain words.
_HOST_MISMATCH = (62, 64)  # hostname, IP address
_UNTRUSTED = (2, 18, 19, 20, 21, 27)
_WORDS = {10: "the certificate has expired", 9: "the certificate is not yet valid"}


def certificate_reason(error: BaseException) -> str:
    """Why the upstream's certificate was refused (Python's own message for a mismatch
    names the host: it is not passed on)."""
    code = getattr(error, "verify_code", None)
    if code in _HOST_MISMATCH or not isinstance(error, ssl.SSLCertVerificationError):
        return "TLS: the certificate does not match the host name"
    if code in _UNTRUSTED:
        return "TLS: the certificate is not trusted (unknown certificate authority)"
    words = _WORDS.get(code or 0) or str(error.verify_message or "verification failed")
    return f"TLS: {words}"


_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the upstream requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the upstream refused the client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the upstream refused the client certificate (unknown CA)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the upstream refused the client certificate (expired)",
    "WRONG_VERSION_NUMBER": "the upstream does not speak TLS on that port",
}


def alert_reason(error: BaseException) -> str:
    """A handshake that failed, or an alert the upstream sent once it had seen us."""
    reason = getattr(error, "reason", None) or type(error).__name__
    words = _ALERTS.get(reason) or f"handshake failed ({reason.replace('_', ' ').lower()})"
    return f"TLS: {words}"
