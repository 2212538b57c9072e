"""One call in flight per key, its result shared by everyone who asks meanwhile: a burst of
requests that all need the same token (an OAuth2 client-credentials token, an opaque token's
introspection) costs the authorization server one call, not one each, which it might
rate-limit or take for an attack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flights(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """`call()`'s result, or that of the call for `key` already in flight."""
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(call())
            pending.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: a caller who leaves does not cancel the call the others wait for.
        return await asyncio.shield(pending)

    def _settled(self, key: K, done: asyncio.Future[V]) -> None:
        del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved: when every waiter has left, nobody else would
