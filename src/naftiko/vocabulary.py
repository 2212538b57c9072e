"""The HTTP vocabulary every layer shares: which methods exist, which are safe and which
idempotent (RFC 9110 §9.2). One place, so a check and the code it guards cannot disagree."""

from __future__ import annotations

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = SAFE_METHODS | {"PUT", "DELETE"}
