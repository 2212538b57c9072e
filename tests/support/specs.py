"""Test copies of real specs, pointed at fake upstreams and ephemeral ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "groq-batch.yaml"


def seed_for(upstream: str, tmp: Path, **changes: Any) -> Path:
    """The seed with its baseUri on `upstream` and every adapter on port 0 (any free port)."""
    data = yaml.safe_load(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = upstream
    import os

    if os.environ.get("TEMP_REST_ONLY"):
        data["capability"]["exposes"] = data["capability"]["exposes"][:1]
    for adapter in data["capability"]["exposes"]:
        adapter["port"] = 0
        adapter.update(changes.get(adapter["type"], {}))
    path = tmp / "groq-batch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
