"""`naftiko run`'s log handler: access lines are written in batches, none lost, none reordered."""

from __future__ import annotations

import io
import logging

from naftiko.logbuffer import BufferedAccessHandler


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"{name}")
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
    try:
        access.info("GET /a 200")
        access.info("GET /b 200")
        assert stream.getvalue() == ""  # waiting for the batch
        other.warning("upstream slow")
        assert stream.getvalue().splitlines() == [
            "naftiko.access GET /a 200",
            "naftiko.access GET /b 200",
            "naftiko upstream slow",
        ]
    finally:
        access.handlers.clear()
        other.handlers.clear()
        access.propagate = other.propagate = True


async def test_waiting_access_lines_are_written_when_the_handler_is_flushed() -> None:
    stream = io.StringIO()
    handler = BufferedAccessHandler(stream)
    access = _logger("naftiko.access", handler)
    try:
        access.info("GET /a 200")
        handler.flush()  # what the timer, the 32 KiB bound and logging's exit hook call
        assert stream.getvalue() == "GET /a 200\n"
    finally:
        access.handlers.clear()
        access.propagate = True


def test_outside_an_event_loop_access_lines_are_written_at_once() -> None:
    stream = io.StringIO()
    access = _logger("naftiko.access", BufferedAccessHandler(stream))
    try:
        access.info("GET /a 200")
        assert stream.getvalue() == "GET /a 200\n"
    finally:
        access.handlers.clear()
        access.propagate = True
