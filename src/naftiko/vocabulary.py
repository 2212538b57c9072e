"""The HTTP vocabulary every layer shares: which methods exist, which are safe and which
idempotent (RFC 9110 §9.2). One place, so a check and the code it guards cannot disagree."""

from __future__ import annotations

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = SAFE_METHODS | {"PUT", "DELETE"}


def is_field_value(value: str) -> bool:
    """Whether `value` may be an HTTP field value (RFC 9110 §5.5): no control character but
    HTAB; bytes past ASCII (obs-text) are allowed. Printable text, the common case, is
    passed at C speed."""
    return value.isprintable() or not any((c < " " and c != "\t") or c == "\x7f" for c in value)
