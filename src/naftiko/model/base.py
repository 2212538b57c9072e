"""The base of every spec model: frozen after load, unknown keys kept (and reported)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Scalar = str | int | float | bool


class Model(BaseModel):
    # Unknown keys are kept in `model_extra` so the loader can warn about each, with its line;
    # they never reach the engine.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


def empty() -> list[Any]:
    """The default of a list field. Not `default_factory=list`: pydantic asks each factory
    for its signature, and `inspect.signature` of a builtin tokenizes its text signature
    (~0.3 ms a field, a tenth of the models' build)."""
    return []
