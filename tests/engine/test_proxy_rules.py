"""Which proxy an upstream URL goes through: the variables curl and requests read, in their
order, and `NO_PROXY` entries as they match them."""

from __future__ import annotations

from pathlib import Path

import pytest
from yarl import URL

from naftiko.engine.network import Proxies, Proxy
from naftiko.engine.options import ProxyOptions
from naftiko.engine.tls import ClientCert, ServedCert, served_certs


def _route(url: str, environ: dict[str, str], options: ProxyOptions | None = None) -> str | None:
    proxy = Proxies.build(options or ProxyOptions(), environ).for_url(URL(url))
    return None if proxy is None else proxy.shown


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:3128"}, "https://api.example", "http://p:3128"),
        ({"HTTPS_PROXY": "http://p:3128"}, "http://api.example", None),
        ({"HTTP_PROXY": "p:8080"}, "http://api.example", "http://p:8080"),
        (
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"},
            "https://a",
            "http://low:1",
        ),
        ({"https_proxy": "", "HTTPS_PROXY": "http://up:2"}, "https://a", "http://up:2"),
        ({"ALL_PROXY": "http://all:3"}, "https://a", "http://all:3"),
        ({"all_proxy": "http://all:3", "HTTPS_PROXY": "http://s:4"}, "https://a", "http://s:4"),
    ],
)
def test_the_proxy_variables_are_read_as_curl_and_requests_read_them(
    environ: dict[str, str], url: str, expected: str | None
) -> None:
    assert _route(url, environ) == expected


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("example.com", "https://example.com", True),
        ("example.com", "https://api.example.com", True),
        (".example.com", "https://example.com", True),
        ("example.com", "https://notexample.com", False),
        ("*.example.com", "https://api.example.com", True),
        ("*", "https://anything.test", True),
        ("10.0.0.0/8", "https://10.1.2.3", True),
        ("10.0.0.0/8", "https://11.1.2.3", False),
        ("::1", "https://[::1]:8443", True),
        ("[::1]:8443", "https://[::1]:8443", True),
        ("example.com:8443", "https://example.com:8443", True),
        ("example.com:8443", "https://example.com", False),
        (" a.test , B.TEST ", "https://b.test", True),
        ("", "https://b.test", False),
    ],
)
def test_no_proxy_entries_match_names_subdomains_addresses_ranges_and_ports(
    no_proxy: str, url: str, bypassed: bool
) -> None:
    routed = _route(url, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": no_proxy})
    assert (routed is None) == bypassed


def test_the_flags_override_the_variables() -> None:
    environ = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "a.test"}
    options = ProxyOptions(proxy="http://flag:2", no_proxy="b.test")
    assert _route("https://a.test", environ, options) == "http://flag:2"
    assert _route("https://b.test", environ, options) is None


def test_proxy_credentials_become_a_header_and_never_part_of_its_shown_address() -> None:
    proxy = Proxy.parse("http://us%40er:p%3Ass@proxy.corp:3128", "HTTPS_PROXY")
    assert (proxy.shown, proxy.authorization) == (
        "http://proxy.corp:3128",
        "Basic dXNAZXI6cDpzcw==",  # us@er:p:ss
    )
    assert "p:ss" not in repr(proxy) and "cDpzcw" not in repr(proxy)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("socks5://p:1080", "HTTPS_PROXY: unsupported proxy scheme 'socks5' (http or https)"),
        ("http://", "HTTPS_PROXY: the proxy URL has no host"),
    ],
)
def test_an_unusable_proxy_url_is_refused_naming_its_source_not_its_value(
    value: str, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        Proxies.build(ProxyOptions(), {"HTTPS_PROXY": value})
    assert str(raised.value) == message


def test_tls_flags_pair_each_certificate_with_the_key_of_its_namespace() -> None:
    served = served_certs(
        ["all.pem", "rest=rest.pem", "./a=b/cert.pem"], ["all.key", "rest=rest.key"]
    )
    assert served == (
        ServedCert(None, Path("all.pem"), Path("all.key")),
        ServedCert("rest", Path("rest.pem"), Path("rest.key")),
        ServedCert(None, Path("./a=b/cert.pem"), Path("all.key")),
    )


def test_a_tls_key_without_its_certificate_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        served_certs(["all.pem"], ["mcp=mcp.key"])
    assert str(raised.value) == "--tls-key mcp: no --tls-cert for it"


def test_a_client_certificate_flag_names_a_namespace_a_certificate_and_maybe_a_key() -> None:
    assert ClientCert.parse("orders=c.pem,k.pem") == ClientCert(
        "orders", Path("c.pem"), Path("k.pem")
    )
    assert ClientCert.parse("orders=both.pem") == ClientCert("orders", Path("both.pem"))
    with pytest.raises(ValueError):
        ClientCert.parse("c.pem")
