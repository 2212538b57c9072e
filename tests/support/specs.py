"""Test copies of real specs, pointed at fake upstreams and ephemeral ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.yamlio import dump_yaml, load_yaml

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "groq-batch.yaml"


def seed_for(upstream: str, tmp: Path, **changes: Any) -> Path:
    """The seed with its baseUri on `upstream` and every adapter on port 0 (any free port)."""
    data = load_yaml(SEED.read_text())
    data["capability"]["consumes"][0]["baseUri"] = upstream
    for adapter in data["capability"]["exposes"]:
        adapter["port"] = 0
        adapter.update(changes.get(adapter["type"], {}))
    path = tmp / "groq-batch.yaml"
    path.write_text(dump_yaml(data, sort_keys=False))
    return path


# A REST adapter with one mock operation: a sibling for skill and control tests, no upstream.
ORDERS_REST: dict[str, Any] = {
    "type": "rest",
    "port": 0,
    "namespace": "orders-rest",
    "resources": [
        {
            "path": "/orders",
            "name": "orders",
            "operations": [
                {
                    "method": "GET",
                    "name": "list-orders",
                    "outputParameters": [{"name": "count", "type": "number", "value": 2}],
                }
            ],
        }
    ],
}


def write_capability(folder: Path, *exposes: dict[str, Any]) -> Path:
    """A minimal capability exposing `exposes`, written as `folder/capability.yaml`."""
    spec = folder / "capability.yaml"
    document = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Orders"},
        "capability": {"exposes": list(exposes)},
    }
    spec.write_text(dump_yaml(document, sort_keys=False))
    return spec
