"""Upstream bodies under byte limits (each one, and all that requests hold at once), and secret
masking that holds across chunk borders."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextvars import ContextVar
from functools import cache

from naftiko.defaults import DEFAULT_MAX_UPSTREAM_MEMORY
from naftiko.errors import Overloaded, UpstreamError

DEFAULT_MAX_UPSTREAM_BODY = 64 * 1024 * 1024
CHUNK = 64 * 1024
# Held bodies that reached this much and then went (mostly) away: their memory is handed back
# to the system (`return_free_memory`).
TRIM_AFTER = 32 * 1024 * 1024


class BodyTooLarge(UpstreamError):
    """The upstream's body passed `--max-upstream-body`: cut off, answered 502."""

    def __init__(self, namespace: str, limit: int) -> None:
        super().__init__(
            f"upstream {namespace!r} sent a body larger than the {_size(limit)} limit "
            "(--max-upstream-body)",
            502,
        )


class MemoryFull(Overloaded):
    """Every request together holds `--max-upstream-memory` of upstream bodies: answered 503,
    to be retried, rather than the process growing with the number of callers."""

    def __init__(self, namespace: str, limit: int) -> None:
        super().__init__(
            f"upstream {namespace!r}: the gateway holds as many upstream bodies as "
            f"--max-upstream-memory allows ({limit} bytes); retry later"
        )


class Budget:
    """The upstream bytes held in memory by all the requests of one runtime at once. A body
    read whole (not streamed) stays alive until its request's answer has left, so what a
    request read counts until then: `hold()` when a request starts, `release()` when it
    ends (the edge, the stdio session)."""

    def __init__(
        self,
        limit: int = DEFAULT_MAX_UPSTREAM_MEMORY,
        trim: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self.held = 0
        # The most held since memory was last handed back, and how to hand it back.
        self.peak = 0
        self.trim = trim or return_free_memory

    def take(self, size: int, namespace: str) -> None:
        """Count `size` more bytes for the current request, or refuse them (`MemoryFull`).
        Outside a request (no `hold()`) nothing is counted: nothing would release it."""
        cell = _HELD.get()
        if cell is None:
            return
        if self.held + size > self.limit:
            raise MemoryFull(namespace, self.limit)
        self.held += size
        if self.held > self.peak:
            self.peak = self.held
        cell.append((self, size))

    def hand_back(self) -> None:
        """Ask the allocator to return its free pages (`release` decides when): glibc keeps
        freed heap memory for reuse, so a burst of large bodies left the process at its peak
        size for good (605 MiB after sixteen 64 MiB bodies, 63 MiB once returned)."""
        self.peak = self.held
        self.trim()


# What the current request has taken, from which budget. A list shared by the tasks the
# request spawns (an MCP batch's members), which copy the context.
_Held = list[tuple[Budget, int]]
_HELD: ContextVar[_Held | None] = ContextVar("naftiko_held_bodies", default=None)


def hold() -> _Held:
    """A request starts: what it reads is counted against its runtime's budget."""
    cell: _Held = []
    _HELD.set(cell)
    return cell


def release(cell: _Held) -> None:
    """The request's answer has left: the bodies it read are gone."""
    for budget, size in cell:
        budget.held -= size
    # Once all are let go (a request's bodies share one budget): a burst of tens of MiB that
    # has mostly gone is handed back.
    for budget, _ in cell:
        if budget.peak >= TRIM_AFTER and budget.held <= budget.peak // 8:
            budget.hand_back()
    cell.clear()


def return_free_memory() -> None:
    """Free heap pages back to the system (glibc's `malloc_trim`); nothing elsewhere (musl,
    macOS: they return large blocks themselves)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # here: only a process that held large bodies ever needs it

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


async def masked_chunks(
    chunks: AsyncIterator[bytes], redact: Callable[[bytes], bytes], longest: int
) -> AsyncGenerator[bytes, None]:
    """`chunks` with every secret masked, even one split across two chunks.

    The last `longest - 1` bytes are held back until the next chunk arrives: a secret that
    starts in what is sent would end inside the buffer just masked, so it was masked whole.
    """
    keep = longest - 1
    tail = b""
    try:
        async for chunk in chunks:
            if keep <= 0:
                yield chunk
                continue
            buffer = redact(tail + chunk)
            tail = buffer[-keep:]
            if len(buffer) > keep:
                yield buffer[:-keep]
        if tail:
            yield redact(tail)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


def _size(limit: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit}-byte"
