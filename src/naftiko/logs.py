"""How `naftiko run` logs: one line per record, as text or JSON, with a caller's control
characters escaped; the handler, levels and filters set once at start."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

from naftiko.adapters.common import ACCESS
from naftiko.engine.tracing import TraceIds, trace_id
from naftiko.logbuffer import ACCESS_LOGGER, BufferedAccessHandler
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


def escape_controls(text: str) -> str:
    """A request's path or value logged as text cannot start a line of its own, nor hide or
    turn text around: every character Python does not call printable is escaped (C0 and C1
    controls, DEL, line and paragraph separators, and the invisible format characters, such
    as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO WIDTH SPACE)."""
    # A printable text (nearly every line) is returned as it is, after one scan in C.
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _TextFormatter(logging.Formatter):
    """One record, one line: control characters in the message are escaped, so a caller's
    value cannot forge a second log line (a traceback, ours, still follows as lines)."""

    _second = -1
    _stamp = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        found = getattr(record, "trace_id", None)
        if found is not None:
            record.message += f" trace_id={found}"
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.stamp(record.created, record.msecs)

    def stamp(self, created: float, msecs: float) -> str:
        """logging's own text (`2026-11-30 09:10:11,123`), with strftime run once a second."""
        second = int(created)
        if second != self._second:
            stamp = time.strftime(self.default_time_format, self.converter(created))
            self._second, self._stamp = second, stamp
        if self.default_msec_format is None:
            return self._stamp
        return self.default_msec_format % (self._stamp, msecs)

    def access_line(self, message: str) -> str:
        """What `format` gives an access record of `message` (INFO, `naftiko.access`, the
        trace id the handler's filter would add), made without the record."""
        created = time.time()
        text = escape_controls(message)
        found = trace_id()
        if found is not None:
            text += f" trace_id={found}"
        # LogRecord's own arithmetic for `msecs`.
        stamp = self.stamp(created, int((created - int(created)) * 1000) + 0.0)
        return f"{stamp} INFO {ACCESS_LOGGER}: {text}"


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
    ids = TraceIds()
    handler.addFilter(ids)
    ACCESS.direct = None
    chosen = formatter(settings.log_format)
    handler.setFormatter(chosen)
    if isinstance(chosen, _TextFormatter):
        ACCESS.direct = _direct_access(handler, chosen, ids)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.setLevel(logging.WARNING)
    # The MCP SDK logs every stateless request's session teardown at INFO.
    logging.getLogger("mcp").setLevel(logging.WARNING)


def _direct_access(
    handler: BufferedAccessHandler, formatter: _TextFormatter, ids: TraceIds
) -> Callable[[str], bool]:
    """The edge's access lines formatted once and handed to the buffer, skipping the
    LogRecord and the handler's machinery (a tenth of a request's time under load), for as
    long as logging stays as configured here; otherwise False: the line goes through
    `logging` (so a test's capture, another handler or a filter sees every line)."""
    root = logging.getLogger()
    loggers = (logging.getLogger(ACCESS_LOGGER), logging.getLogger("naftiko"))

    def write(message: str) -> bool:
        handlers = root.handlers
        if len(handlers) != 1 or handlers[0] is not handler or handler.level > logging.INFO:
            return False
        if handler.formatter is not formatter or handler.filters != [ids]:
            return False
        for logger in loggers:
            if logger.handlers or logger.filters or not logger.propagate or logger.disabled:
                return False
        handler.buffer(formatter.access_line(message) + handler.terminator)
        return True

    return write
