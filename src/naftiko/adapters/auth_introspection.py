"""RFC 7662 token introspection for the OAuth 2.1 resource server (auth_oauth has the JWT
side): the authorization server says whether an opaque token is active; its answer is cached
until the token's own expiry but at most `CACHE_SECONDS`, and one question per token is in
flight at a time."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote_plus

from naftiko.adapters.auth_oauth import (
    LEEWAY,
    Authority,
    Claims,
    JwtValidator,
    Metadata,
    Refused,
    Validator,
    claims_of,
    fetch_json,
)
from naftiko.engine.exposed import OAuthPolicy
from naftiko.engine.flights import Flights

MAX_INTROSPECTED = 10_000  # active answers cached at once, oldest first out
# A token revoked at the authorization server is refused within this long, not at its own
# expiry (hours, for some servers); one introspection per token and minute is the price.
CACHE_SECONDS = 60.0


def validator(policy: OAuthPolicy, authority: Authority) -> Validator:
    metadata = Metadata(policy.issuer, authority)
    if policy.validation == "introspection":
        return Introspection(policy, metadata, authority)
    return JwtValidator(policy, metadata, authority)


class Introspection:
    """RFC 7662: the authorization server says whether a token is active; an active answer is
    cached until the token's own expiry, at most `CACHE_SECONDS` (bounded in number, oldest
    first out); inactive ones are not."""

    def __init__(self, policy: OAuthPolicy, metadata: Metadata, authority: Authority) -> None:
        self.policy = policy
        self._metadata = metadata
        self._authority = authority
        self._cache: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
        # One question per token in flight: a burst of one caller's requests before the
        # first answer is cached costs the authorization server one introspection.
        self._questions: Flights[bytes, dict[str, Any]] = Flights()

    async def validate(self, token: str) -> Claims:
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.time():
            return claims_of(self.policy, cached[1])
        answer = await self._questions.run(digest, lambda: self._ask(token, digest))
        return claims_of(self.policy, answer)

    async def _ask(self, token: str, digest: bytes) -> dict[str, Any]:
        url = await self._metadata.get("introspection_endpoint")
        answer, _ = await fetch_json(
            self._authority,
            url,
            "introspection",
            form={"token": token, "token_type_hint": "access_token"},
            # RFC 6749 §2.3.1: both are form-urlencoded before they go into Basic.
            basic=(quote_plus(self.policy.client_id), quote_plus(self.policy.client_secret)),
        )
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise Refused("the token is not active")
        self._check(answer)
        expiry = answer.get("exp")
        if isinstance(expiry, int | float):
            self._cache[digest] = (min(float(expiry), time.time() + CACHE_SECONDS), answer)
            self._cache.move_to_end(digest)
            while len(self._cache) > MAX_INTROSPECTED:
                self._cache.popitem(last=False)
        return answer

    def _check(self, answer: dict[str, Any]) -> None:
        now = time.time()
        expiry, not_before = answer.get("exp"), answer.get("nbf")
        if isinstance(expiry, int | float) and expiry + LEEWAY <= now:
            raise Refused("the token has expired")
        if isinstance(not_before, int | float) and not_before - LEEWAY > now:
            raise Refused("the token is not valid yet")
        issuer = answer.get("iss")
        if isinstance(issuer, str) and issuer.rstrip("/") != self.policy.issuer:
            raise Refused("the token comes from another issuer")
        audience = answer.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if isinstance(audiences, list) and self.policy.audience not in audiences:
            raise Refused("the token is meant for another audience")
