"""The upstream-body budget hands freed memory back to the system after a burst of large
bodies (glibc keeps it otherwise), and not for the small bodies of ordinary calls."""

from __future__ import annotations

from naftiko.engine import streams
from naftiko.engine.streams import TRIM_AFTER, Budget

MIB = 1024 * 1024


def _request(budget: Budget, *sizes: int) -> list[tuple[Budget, int]]:
    cell = streams.hold()
    for size in sizes:
        budget.take(size, "ns")
    return cell


def test_memory_is_handed_back_once_a_large_burst_has_gone() -> None:
    trims: list[int] = []
    budget = Budget(512 * MIB, trim=lambda: trims.append(budget.held))
    burst = [_request(budget, 16 * MIB, 4 * MIB) for _ in range(2)]  # 40 MiB held at once
    small = _request(budget, 1024)
    streams.release(burst[0])
    assert trims == []  # half of the peak still held
    streams.release(burst[1])
    assert trims == [1024]  # what is left is the small body: an eighth of the peak or less
    streams.release(small)
    assert trims == [1024]  # once per burst, not again for what followed it


def test_ordinary_bodies_never_trim() -> None:
    trims: list[int] = []
    budget = Budget(512 * MIB, trim=lambda: trims.append(0))
    for _ in range(TRIM_AFTER // (64 * 1024) * 2):
        streams.release(_request(budget, 64 * 1024))
    assert (trims, budget.held) == ([], 0)


def test_returning_free_memory_is_harmless_where_the_allocator_cannot() -> None:
    streams.return_free_memory()  # glibc here: malloc_trim; elsewhere nothing
