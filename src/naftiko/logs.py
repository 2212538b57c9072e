"""How `naftiko run` logs: one line per record, as text or JSON, with a caller's control
characters escaped; the handler, levels and filters set once at start."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from naftiko.engine.tracing import TraceIds
from naftiko.logbuffer import BufferedAccessHandler
from naftiko.settings import Settings


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "trace_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        return json.dumps(entry)


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """A request's path or value logged as text cannot start a line of its own."""
    return _CONTROLS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _TextFormatter(logging.Formatter):
    """One record, one line: control characters in the message are escaped, so a caller's
    value cannot forge a second log line (a traceback, ours, still follows as lines)."""

    _second = -1
    _stamp = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        trace_id = getattr(record, "trace_id", None)
        if trace_id is not None:
            record.message += f" trace_id={trace_id}"
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # logging's own text (`2026-11-30 09:10:11,123`), with strftime run once a second.
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second, self._stamp = second, stamp
        if self.default_msec_format is None:
            return self._stamp
        return self.default_msec_format % (self._stamp, record.msecs)


def formatter(log_format: str) -> logging.Formatter:
    """How `naftiko run` writes a record (`--log-format text|json`); the tests that serve in
    a thread of their own process read their log lines through it too."""
    if log_format == "json":
        return _JsonFormatter()
    return _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(settings: Settings) -> None:
    handler = BufferedAccessHandler(sys.stderr)
    # No format of ours shows a record's thread, process or source line: not looked up for
    # every line (the caller's frame walk alone was ~1% of a request under load).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.setLevel(logging.WARNING)
    uvicorn_log.addFilter(_said_already)
    # The MCP SDK logs every stateless request's session teardown at INFO.
    logging.getLogger("mcp").setLevel(logging.WARNING)


def _said_already(record: logging.LogRecord) -> bool:
    """A pass-through body cut short (the upstream broke, or passed --max-upstream-body) is
    logged by the edge, with its reason; uvicorn's line for the same event adds nothing."""
    return record.getMessage() != "ASGI callable returned without completing response."
