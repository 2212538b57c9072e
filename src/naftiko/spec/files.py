"""Where relative file references in a spec (`location`, imports, bind files) point, and
how such a file is read."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# A spec, an imported or bind file, a script or an OpenAPI document is text someone wrote or
# generated: the largest real ones are a few MB. Past this bound it is a mistake or an attack
# (a sparse file, a log), and reading it whole would hold that much memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


class NotAFile(OSError):
    """A path that names something other than a regular file of at most MAX_FILE_BYTES."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.strerror = reason


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file. A FIFO, a device (`/dev/zero`), a socket or a file past
    MAX_FILE_BYTES is refused with `NotAFile` (an OSError): reading one would wait for a writer
    for ever, or never end."""
    # O_NONBLOCK: opening a FIFO for reading does not wait for a writer (a no-op on files).
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise NotAFile("is a FIFO, device or socket, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise NotAFile(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return data


def read_text(path: Path) -> str:
    """`read_bytes` decoded as UTF-8 (UnicodeDecodeError is the caller's to report)."""
    return read_bytes(path).decode("utf-8")


def location_path(location: str) -> str:
    """`file:///./x`, `file://./x`, `file:///abs/x` or a plain path → a filesystem path string."""
    text = location.strip()
    if text.startswith("file://"):
        text = text[len("file://") :]
        # `file:///./x` and `file:///../x` are relative forms used throughout the tutorial.
        if text.startswith("/./") or text.startswith("/../"):
            text = text[1:]
    return text


def resolve_location(location: str, spec_dir: Path) -> Path:
    """Relative references resolve against the spec's folder first, then the working directory."""
    raw = Path(location_path(location))
    if raw.is_absolute():
        if raw.exists() or not location.startswith("file:"):
            return raw
        # `file:///shared/x.yml` (the schema's own example) means a path beside the spec.
        raw = Path(str(raw).lstrip("/"))
    beside = (spec_dir / raw).resolve()
    if beside.exists():
        return beside
    cwd = raw.resolve()
    return cwd if cwd.exists() else beside
