"""`Secrets`: the values masked in whatever leaves the engine.

Bound secrets and the credential values of every authentication are known at start; the
access tokens of OAuth2 client-credentials flows are only known once fetched, and are
added then. An upstream that echoes its Authorization header must not hand that token to
a caller any more than it may hand back a bound key.

An upstream echoes a secret as its own writers spell it: inside JSON text (`\\u00e9`,
`\\"`, and `\\/` from writers that escape slashes, PHP's by default), or inside a URL it
echoes back (a key sent as a query value, percent-encoded as the gateway sent it). Each
secret is masked in every one of these spellings, not only as written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

_MASK = "***"
# Tokens rotate; a few recent ones per process are kept masked (an old one may still be
# echoed by a slow upstream), without letting the list grow with the uptime.
_RECENT_TOKENS = 32


class Secrets:
    def __init__(self, values: Iterable[str]) -> None:
        self._fixed = frozenset(values)
        self._tokens: dict[str, None] = {}  # insertion-ordered, bounded
        self._index()

    def add(self, token: str) -> None:
        """A credential obtained while running (an OAuth2 access token)."""
        if token in self._set:
            return
        self._tokens[token] = None
        while len(self._tokens) > _RECENT_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        self._index()

    def _index(self) -> None:
        # Longest first: a secret that contains another is masked whole.
        spelled = {form for text in (*self._fixed, *self._tokens) for form in _spellings(text)}
        self._texts = sorted(spelled, key=len, reverse=True)
        self._bytes = [text.encode() for text in self._texts]
        self._set = frozenset(self._texts)

    def __bool__(self) -> bool:
        return bool(self._texts)

    @property
    def longest(self) -> int:
        """Bytes of the longest secret: how much a streamed body holds back between chunks."""
        return len(self._bytes[0]) if self._bytes else 0

    def text(self, text: str) -> str:
        """Error and log text never carries a secret."""
        for secret in self._texts:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def bytes(self, body: bytes) -> bytes:
        for secret in self._bytes:
            if secret in body:
                body = body.replace(secret, _MASK.encode())
        return body

    def value(self, value: Any) -> Any:
        """A JSON value with every secret masked, in keys and strings alike."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A numeric credential mapped into a number is still the credential.
            return _MASK if str(value) in self._set else value
        return value


def _spellings(secret: str) -> set[str]:
    """`secret` as written, escaped in JSON text (ASCII-only or not, `/` escaped or not),
    and percent-encoded (as the gateway encodes a query or path value, and as a form)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    return forms
