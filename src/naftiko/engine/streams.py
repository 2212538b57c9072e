"""Upstream bodies under a byte limit, and secret masking that holds across chunk borders."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from naftiko.errors import UpstreamError

DEFAULT_MAX_UPSTREAM_BODY = 64 * 1024 * 1024
CHUNK = 64 * 1024


class BodyTooLarge(UpstreamError):
    """The upstream's body passed `--max-upstream-body`: cut off, answered 502."""

    def __init__(self, namespace: str, limit: int) -> None:
        super().__init__(
            f"upstream {namespace!r} sent a body larger than the {_size(limit)} limit "
            "(--max-upstream-body)",
            502,
        )


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
