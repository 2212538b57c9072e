"""`naftiko run`'s access lines written without a LogRecord: the same text, and every line
still reaches any handler someone else adds."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from naftiko.adapters.common import ACCESS
from naftiko.engine import tracing
from naftiko.engine.tracing import Trace
from naftiko.logs import configure_logging
from naftiko.settings import Settings

FMT = "%s %s %s %d %.1fms %s %s"
ARGS = ("groq-batch-rest", "GET", "/v1/a\nforged", 200, 1.25, "-", "rid-1")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(Settings(log_level="info"))
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        yield stream
    finally:
        ACCESS.direct = None
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[str]:
    logging.getLogger().handlers[0].flush()
    return [STAMP.sub("", line) for line in stream.getvalue().splitlines()]


def test_a_direct_access_line_is_the_line_logging_writes(configured: io.StringIO) -> None:
    token = tracing.enter(Trace("rid-1", "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"))
    try:
        assert ACCESS.direct is not None
        ACCESS.write(FMT, *ARGS)
        direct = ACCESS.direct
        ACCESS.direct = None
        ACCESS.write(FMT, *ARGS)  # through a LogRecord, the handler and its formatter
        ACCESS.direct = direct
    finally:
        tracing.leave(token)
    lines = _lines(configured)
    assert STAMP.match(configured.getvalue())
    assert lines[0] == lines[1]
    assert lines[0] == (
        "INFO naftiko.access: groq-batch-rest GET /v1/a\\x0aforged 200 1.2ms - rid-1"
        " trace_id=" + "ab" * 16
    )


def test_access_lines_reach_a_handler_added_after_configuration(configured: io.StringIO) -> None:
    seen: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    extra = Seen()
    logging.getLogger().addHandler(extra)
    try:
        ACCESS.write(FMT, *ARGS)
    finally:
        logging.getLogger().removeHandler(extra)
    assert seen == [FMT % ARGS]
    assert len(_lines(configured)) == 1


def test_no_access_line_below_the_configured_level(configured: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    ACCESS.write(FMT, *ARGS)
    assert _lines(configured) == []
