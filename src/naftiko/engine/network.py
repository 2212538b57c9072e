"""How upstream calls leave the process: the proxy each URL goes through (`--proxy`,
`HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`, `NO_PROXY`, lower-case forms first, as curl and
requests read them), the TLS context of each consumed namespace (`engine/tls.py`), and the
reason a TLS or proxy failure gives a caller (never an address, never a proxy credential)."""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote

import aiohttp
from yarl import URL

from naftiko.engine import tls
from naftiko.engine.options import ProxyOptions

_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Proxy:
    """A forward proxy. `url` carries no credentials: they travel as `authorization` only."""

    url: URL
    authorization: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """For the operator's log: where the proxy is, never who logs in to it."""
        return str(self.url)

    @classmethod
    def parse(cls, text: str, source: str) -> Proxy:
        """`host:port` or `http(s)://[user:password@]host[:port]`; anything else is refused
        with a message naming `source` (the flag or variable) but not the value."""
        if "://" not in text:
            text = f"http://{text}"  # curl and requests read a bare `host:port` as http
        try:
            url = URL(text)
        except ValueError:
            raise ValueError(f"{source}: not a proxy URL") from None
        if url.scheme not in _SCHEMES:
            raise ValueError(f"{source}: unsupported proxy scheme {url.scheme!r} (http or https)")
        if not url.host:
            raise ValueError(f"{source}: the proxy URL has no host")
        authorization = None
        if url.raw_user is not None:
            login = f"{unquote(url.raw_user)}:{unquote(url.raw_password or '')}"
            authorization = "Basic " + base64.b64encode(login.encode()).decode("ascii")
        return cls(url.with_user(None).with_path("").with_query(None), authorization)


@dataclass(frozen=True)
class Bypass:
    """`NO_PROXY`: names (a domain and its subdomains; a leading dot changes nothing), IP
    addresses and CIDR ranges, optionally with a port; `*` alone means every host."""

    everything: bool = False
    names: tuple[tuple[str, int | None], ...] = ()
    networks: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Bypass:
        names: list[tuple[str, int | None]] = []
        networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]] = []
        for raw in text.replace(" ", ",").replace("\t", ",").split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(everything=True)
            host, port = _split_port(entry)
            try:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                names.append((host.strip(".").removeprefix("*."), port))
        return cls(False, tuple(names), tuple(networks))

    def matches(self, host: str, port: int | None) -> bool:
        if self.everything:
            return True
        host = host.lower().strip("[]").rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(
                (host == name or host.endswith(f".{name}")) and want in (None, port)
                for name, want in self.names
            )
        return any(
            address in net and want in (None, port)
            for net, want in self.networks
            if net.version == address.version
        )


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest[1:].isdigit() else None
    if entry.count(":") == 1:  # name:port or 10.0.0.1:8080 (a bare IPv6 address has more)
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


@dataclass(frozen=True)
class Proxies:
    """Which proxy, if any, a URL goes through. Decided once per scheme, host and port."""

    by_scheme: Mapping[str, Proxy] = field(default_factory=dict)
    bypass: Bypass = field(default_factory=Bypass)

    @classmethod
    def build(cls, options: ProxyOptions, environ: Mapping[str, str]) -> Proxies:
        by_scheme: dict[str, Proxy] = {}
        for scheme in _SCHEMES:
            if options.proxy:
                by_scheme[scheme] = Proxy.parse(options.proxy, "--proxy")
                continue
            found = _variable(environ, f"{scheme}_proxy") or _variable(environ, "all_proxy")
            if found is not None:
                by_scheme[scheme] = Proxy.parse(found[1], found[0])
        no_proxy = options.no_proxy
        if no_proxy is None:
            found = _variable(environ, "no_proxy")
            no_proxy = found[1] if found else ""
        return cls(by_scheme, Bypass.parse(no_proxy))

    def for_url(self, url: URL) -> Proxy | None:
        proxy = self.by_scheme.get(url.scheme)
        if proxy is None or self.bypass.matches(url.raw_host or "", url.port):
            return None
        return proxy


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The lower-case form first (curl, requests); an empty value is no value."""
    for key in (name, name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return key, value
    return None


@dataclass
class Network:
    """What every upstream pool of a runtime shares: proxies, and a TLS context per
    consumed namespace (the default one for namespaces without a client certificate)."""

    proxies: Proxies = field(default_factory=Proxies)
    default_context: ssl.SSLContext | None = None
    contexts: Mapping[str, ssl.SSLContext] = field(default_factory=dict)
    _routes: dict[tuple[str, str, int | None], Proxy | None] = field(default_factory=dict)

    @property
    def proxied(self) -> bool:
        """Whether any upstream call may go through a proxy."""
        return bool(self.proxies.by_scheme)

    def context(self, namespace: str) -> ssl.SSLContext | bool:
        """aiohttp's `ssl=`: `True` is aiohttp's own verified default."""
        return self.contexts.get(namespace) or self.default_context or True

    def proxy(self, url: URL) -> Proxy | None:
        if not self.proxies.by_scheme:
            return None
        key = (url.scheme, url.raw_host or "", url.port)
        if key not in self._routes:
            if len(self._routes) > 1024:  # hosts a caller can choose stay bounded
                self._routes.clear()
            self._routes[key] = self.proxies.for_url(url)
        return self._routes[key]


def tunnel(proxy: Proxy | None) -> tuple[URL | None, dict[str, str] | None]:
    """The proxy, and its credentials for the CONNECT (https) or none (http: they go with the
    request itself, `proxied_headers`). aiohttp's `proxy_auth` is deprecated."""
    if proxy is None:
        return None, None
    if proxy.authorization is None:
        return proxy.url, None
    return proxy.url, {"Proxy-Authorization": proxy.authorization}


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def same_origin_redirect(status: int, headers: Mapping[str, str], url: URL) -> URL | None:
    """Where a redirect of `url` leads, if the gateway may follow it: to the same scheme,
    host and port only. A call carries its upstream's credentials (a bound header, an API
    key); followed elsewhere, they would reach a host no configuration named, and any
    address an upstream named (cloud metadata, the internal network) would be read for the
    caller. Elsewhere: None, and the 3xx goes back to the caller, who may follow it."""
    if status not in _REDIRECTS:
        return None
    location = headers.get("Location")
    if not location:
        return None
    try:
        target = url.join(URL(location)).with_fragment(None)
        same = target.origin() == url.origin()
    except ValueError:  # not a URL, or one without a host: not followed
        return None
    return target if same else None


def proxied_headers(headers: dict[str, str], proxy: Proxy | None, url: URL) -> dict[str, str]:
    """A plain-http request through a proxy carries the proxy's credentials itself."""
    if proxy is None or proxy.authorization is None or url.scheme != "http":
        return headers
    return {**headers, "Proxy-Authorization": proxy.authorization}


def os_error_reason(exc: OSError) -> str:
    """The kind of failure, never an address: `Connection refused`, not `Connect call
    failed ('10.0.0.7', 8443)`, whose text holds it (SECURITY.md: errors name the namespace
    only)."""
    if isinstance(exc, socket.gaierror) and exc.strerror:
        # The resolver's own words (`Name or service not known`), which name no host: its
        # codes are not errno values, so os.strerror would say `Unknown error -2`.
        return exc.strerror
    return os.strerror(exc.errno) if exc.errno else type(exc).__name__


def status_text(status: int) -> str:
    """`403 Forbidden`: a status with its standard phrase. A proxy's own reason phrase is
    never repeated: it may echo the request line (the upstream's address) or the
    Proxy-Authorization it was sent."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def failure_reason(exc: BaseException) -> str | None:
    """Why a TLS handshake or a proxy failed, in words a caller may read (the reason and
    the kind of failure, never a host, address or credential); None for other failures."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the proxy refused the tunnel: {status_text(exc.status)}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"the proxy is unreachable ({os_error_reason(exc.os_error)})"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return tls.certificate_reason(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return tls.alert_reason(exc.os_error)
    if isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__, ssl.SSLError):
        return tls.alert_reason(exc.__cause__)
    return None


def build_network(
    proxy: ProxyOptions,
    options: tls.TlsOptions,
    consumed: Mapping[str, Callable[[str], str | None]],
    environ: Mapping[str, str],
) -> Network:
    """Every context and proxy, built before any port opens. `consumed` maps each consumed
    namespace to the lookup of its spec's bound variables (for key passphrases)."""
    try:
        proxies = Proxies.build(proxy, environ)
    except ValueError as exc:
        raise tls.CertificateError(str(exc)) from None
    named = [("--client-cert", c.namespace) for c in options.client_certs]
    for flag, name in [*named, *(("--client-key-password", n) for n in options.key_passwords)]:
        if name not in consumed:
            raise tls.CertificateError(f"{flag} {name}: no consumed namespace {name!r}")
    default = None  # aiohttp's own verified context (`Network.context`)
    if not tls.system_store_only(environ, options.ca_bundle):
        default = tls.client_context(environ, options.ca_bundle, None, None)
    contexts = {}
    for cert in options.client_certs:
        source = options.key_passwords.get(cert.namespace)
        password = None
        if source is not None:
            password = tls.read_password(source, consumed[cert.namespace], cert.namespace)
        contexts[cert.namespace] = tls.client_context(environ, options.ca_bundle, cert, password)
    return Network(proxies, default, contexts)
