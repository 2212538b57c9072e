"""`naftiko run`'s log handler: access lines are written in batches, none lost, none reordered."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from naftiko.logbuffer import BufferedAccessHandler


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """The loggers these tests take over are given back as they were (level included: a
    level left on `naftiko.access` would outlive the test and change later tests)."""
    loggers = [logging.getLogger(name) for name in ("naftiko", "naftiko.access")]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    try:
        yield
    finally:
        for lg, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.propagate = handlers, propagate
            lg.setLevel(level)


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


async def test_access_lines_wait_and_any_other_line_writes_them_first_in_order() -> None:
    stream = io.StringIO()
    handler = BufferedAccessHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    access = _logger("naftiko.access", handler)
    other = _logger("naftiko", handler)
    access.info("GET /a 200")
    access.info("GET /b 200")
    assert stream.getvalue() == ""  # waiting for the batch
    other.warning("upstream slow")
    assert stream.getvalue().splitlines() == [
        "naftiko.access GET /a 200",
        "naftiko.access GET /b 200",
        "naftiko upstream slow",
    ]


async def test_waiting_access_lines_are_written_when_the_handler_is_flushed() -> None:
    stream = io.StringIO()
    handler = BufferedAccessHandler(stream)
    access = _logger("naftiko.access", handler)
    access.info("GET /a 200")
    handler.flush()  # what the timer, the 32 KiB bound and logging's exit hook call
    assert stream.getvalue() == "GET /a 200\n"


def test_outside_an_event_loop_access_lines_are_written_at_once() -> None:
    stream = io.StringIO()
    access = _logger("naftiko.access", BufferedAccessHandler(stream))
    access.info("GET /a 200")
    assert stream.getvalue() == "GET /a 200\n"
