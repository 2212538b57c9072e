"""Input and output parameters (consumed, exposed, MCP tool, mapped, orchestrated, mock)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from naftiko.model.base import Model, Scalar


class InputParameter(Model):
    """One parameter; consumed ones carry `value`, exposed ones `type`/`description`/`required`.

    The official schema splits this into ConsumedInputParameter, ExposedInputParameter and
    McpToolInputParameter; real files mix their keys (SEMANTICS §11.3 rule 1), so one model
    reads them all and the dialect pass reports the keys a kind should not carry.
    """

    name: str
    in_: Literal["query", "header", "path", "cookie", "body", "environment"] | None = Field(
        default=None, alias="in"
    )
    type: str | None = None
    description: str | None = None
    required: bool | None = None
    pattern: str | None = None
    value: Scalar | None = None
    template: str | None = None
    default: Any = None
    enum: list[Any] | None = None
    items: dict[str, Any] | None = None
    # An extension: a JSON Schema for the value, for clients (what `import openapi` carries
    # over beyond type, enum and pattern: formats, bounds, defaults, nested fields).
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class OutputParameter(Model):
    """Mapped (`mapping`), constant (`const`), mock (`value`) or orchestrated (`name`) output."""

    name: str | None = None
    type: str = "string"
    description: str | None = None
    mapping: str | None = None
    value: Scalar | None = None
    const: Any = None
    properties: dict[str, OutputParameter] | None = None
    items: OutputParameter | None = None
    maxLength: int | None = None

    @field_validator("items", mode="before")
    @classmethod
    def _first_of_list(cls, value: Any) -> Any:
        # Orchestrated arrays (and the reference engine) accept `items` as a one-element list.
        if isinstance(value, list):
            return value[0] if value else None
        return value
