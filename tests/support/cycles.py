"""What reference cycles naftiko's own objects were left in while a block ran: `naftiko run`
collects cycles rarely (listeners.YOUNG_COLLECTION) because serving makes none."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def _naftikos(found: object) -> bool:
    """An instance of one of naftiko's classes, or a frame, coroutine or function of its code."""
    code = getattr(found, "f_code", None) or getattr(found, "cr_code", None)
    code = code or getattr(found, "__code__", None)
    if code is not None:
        return "/naftiko/" in code.co_filename
    return type(found).__module__.startswith("naftiko.")


@contextmanager
def naftiko_cycles() -> Iterator[list[object]]:
    """Yields a list that, once the block has ended, holds the naftiko objects that only the
    cycle collector could free (the collector is off meanwhile)."""
    left: list[object] = []
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield left
        gc.collect()
        left.extend(found for found in gc.garbage if _naftikos(found))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
