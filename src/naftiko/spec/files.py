"""Where relative file references in a spec (`location`, imports, bind files) point."""

from __future__ import annotations

from pathlib import Path


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
