"""Answers no HTTP framework would send, byte for byte: served by the faulty upstream
(tests/support/faulty.py) at `/raw/<name>`, to see what the gateway makes of each."""

from __future__ import annotations


def _raw(status: str, body: bytes, *headers: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}".encode(), b"content-type: application/json", *headers]
    return b"\r\n".join([*lines, b"content-length: %d" % len(body), b"", body])


_DEEP = b"[" * 5000 + b"]" * 5000
RAW_ANSWERS = {
    # Header bytes past ASCII: UTF-8 (which aiohttp reads as such) and latin-1 (which it
    # keeps surrogate-escaped), on headers the gateway passes back.
    "utf8-header": _raw("200 OK", b"{}", "x-ratelimit-policy: caf\u00e9-\u2603".encode()),
    "latin1-header": _raw("200 OK", b"{}", b'etag: "caf\xe9"'),
    "switching": _raw("101 Switching Protocols", b"", b"upgrade: websocket"),
    "status-099": _raw("099 Early", b'{"ok":true}'),
    "status-600": _raw("600 Beyond", b'{"ok":true}'),
    "nan": _raw("200 OK", b'{"ok":NaN}'),
    "overflow": _raw("200 OK", b'{"ok":1e999}'),
    "surrogate": _raw("200 OK", b'{"ok":"\\ud800"}'),
    "deep-object": _raw("200 OK", b'{"a":' * 5000 + b"1" + b"}" * 5000),
    "deep-error": _raw("400 Bad Request", _DEEP),
    "two-lengths": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
    "no-content-with-body": _raw("204 No Content", b'{"ok":true}'),
    "garbage": b"\x00\x01 not HTTP at all\r\n\r\n",
    # A digest challenge whose nonce holds a control character (the parser lets it through).
    "digest-control": _raw(
        "401 Unauthorized", b"{}", b'www-authenticate: Digest realm="r", nonce="a\x01b", qop="auth"'
    ),
    "token-control": _raw("200 OK", b'{"access_token": "tok\\u0001en", "expires_in": 60}'),
    # A streamed body whose first byte never comes (the connection stays open).
    "stalled": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"transfer-encoding: chunked\r\n\r\n",
}
