"""The base of every spec model: frozen after load, unknown keys kept (and reported)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Scalar = str | int | float | bool


class Model(BaseModel):
    # Unknown keys are kept in `model_extra` so the loader can warn about each, with its line;
    # they never reach the engine.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
