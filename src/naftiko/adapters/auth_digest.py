"""HTTP Digest authentication of callers (RFC 7616): SHA-256 and MD5, `qop=auth`.

Nonces are stateless (a timestamp and its HMAC under a per-process key), expire after
NONCE_SECONDS (then the challenge says `stale=true`, so clients retry without asking the user),
and each nonce count is accepted once: a replayed `Authorization` header is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable

REALM = "naftiko"
NONCE_SECONDS = 300.0
MAX_TRACKED_NONCES = 10_000
_HASHES = {"SHA-256": "sha256", "MD5": "md5"}  # RFC 7616 name → hashlib name
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')


def parse_params(text: str) -> dict[str, str]:
    """RFC 7235 auth-params: `name=token` or `name="quoted \\"string\\""`, comma-separated."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None or match.end() == pos:
            return {}  # malformed: treated as no credentials at all
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
        pos = match.end()
    return params


class DigestVerifier:
    def __init__(
        self, username: str, password: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._username = username
        self._password = password
        self._clock = clock
        self._key = os.urandom(32)
        self._counts: OrderedDict[str, int] = OrderedDict()

    def challenges(self, stale: bool = False) -> list[str]:
        """One challenge per algorithm, the stronger first (RFC 7616 §3.7)."""
        nonce = self._nonce()
        extra = ", stale=true" if stale else ""
        return [
            f'Digest realm="{REALM}", qop="auth", algorithm={name}, nonce="{nonce}"{extra}'
            for name in _HASHES
        ]

    def verify(self, header: str, method: str, target: str) -> bool | None:
        """True when `header` answers one of our challenges for this request; None when it
        did so with an expired nonce (the caller should be challenged with `stale=true`)."""
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return False
        p = parse_params(rest)
        algorithm = p.get("algorithm", "MD5").upper()
        hasher = _HASHES.get(algorithm)
        nonce, count = p.get("nonce", ""), p.get("nc", "")
        if (
            hasher is None
            or p.get("realm") != REALM
            or p.get("qop") != "auth"
            or p.get("uri") != target
            or not re.fullmatch(r"[0-9a-fA-F]{8}", count)
            or not p.get("cnonce")
        ):
            return False
        issued = self._issued(nonce)
        if issued is None:
            return False
        algorithm_name = hasher

        def h(text: str) -> str:
            return hashlib.new(algorithm_name, text.encode()).hexdigest()

        ha1 = h(f"{p.get('username', '')}:{REALM}:{self._password}")
        ha2 = h(f"{method}:{target}")
        expected = h(f"{ha1}:{nonce}:{count}:{p['cnonce']}:auth:{ha2}")
        good = hmac.compare_digest(p.get("response", "").encode(), expected.encode())
        good &= hmac.compare_digest(p.get("username", "").encode(), self._username.encode())
        if not good:
            return False
        if self._clock() - issued > NONCE_SECONDS:
            return None
        return self._fresh_count(nonce, int(count, 16))

    def _nonce(self) -> str:
        stamp = f"{self._clock():.6f}".encode()
        mac = hmac.new(self._key, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + b":" + mac).decode().rstrip("=")

    def _issued(self, nonce: str) -> float | None:
        """When we issued `nonce`, or None if we never did."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return None
        stamp, _, mac = raw.partition(b":")
        expected = hmac.new(self._key, stamp, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            return float(stamp)
        except ValueError:
            return None

    def _fresh_count(self, nonce: str, count: int) -> bool:
        """Each nonce count is used once and counts only go up (RFC 7616 §3.4 replay check)."""
        if count <= self._counts.get(nonce, 0):
            return False
        self._counts[nonce] = count
        self._counts.move_to_end(nonce)
        while len(self._counts) > MAX_TRACKED_NONCES:
            self._counts.popitem(last=False)
        return True
