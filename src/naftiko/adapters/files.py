"""Files that adapters serve from a spec's folders (skill contents, MCP static resources):
safe path segments, containment (symlinks included), listings and media types."""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path, PurePosixPath

SAFE_SEGMENT = re.compile(r"[a-zA-Z0-9._-]+")
_KNOWN = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".txt": "text/plain",
    ".xml": "application/xml",
}


def unsafe_segment(segments: Sequence[str]) -> str | None:
    """The first segment that is `.`, `..` or outside `[a-zA-Z0-9._-]`, if any."""
    return next((s for s in segments if s in (".", "..") or not SAFE_SEGMENT.fullmatch(s)), None)


def contained(root: Path, segments: Sequence[str]) -> Path | None:
    """`root/segments...` unless it resolves outside `root` (a symlink must not lead out)."""
    path = root.joinpath(*segments)
    return path if path.resolve().is_relative_to(root.resolve()) else None


def is_regular_file(path: Path) -> bool:
    """Whether a caller-named `path` is a regular file. A name longer than the filesystem
    holds (ENAMETOOLONG) is no file: `Path.is_file` raises for it, which was a 500."""
    try:
        return path.is_file()
    except OSError:
        return False


def files_under(root: Path) -> list[tuple[str, Path]]:
    """Every regular file below `root` with safe names and staying inside it, sorted."""
    real_root = root.resolve()
    found: list[tuple[str, Path]] = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            inside = path.resolve().is_relative_to(real_root)
            if inside and unsafe_segment(rel.split("/")) is None and path.is_file():
                found.append((rel, path))
    return sorted(found)


@cache
def _mime_types() -> mimetypes.MimeTypes:
    """The interpreter's built-in table only: the host's /etc/mime.types must not change
    answers. Built at the first file of an unlisted type, not at start (~6 ms: building it
    first reads the host's tables for the module's global one)."""
    return mimetypes.MimeTypes(filenames=())


def media_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in _KNOWN:
        return _KNOWN[suffix]
    guessed, _ = _mime_types().guess_type(name, strict=False)
    return guessed or "application/octet-stream"
