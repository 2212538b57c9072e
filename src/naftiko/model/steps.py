"""Orchestration steps (`call`, `lookup`, `script`) and step output mappings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from naftiko.model.base import Model, empty


class CallStep(Model):
    type: Literal["call"]
    name: str
    call: str
    with_: dict[str, Any] | None = Field(default=None, alias="with")


class LookupStep(Model):
    type: Literal["lookup"]
    name: str
    index: str
    match: str
    lookupValue: str
    outputParameters: list[str] = Field(default_factory=empty)


class ScriptStep(Model):
    type: Literal["script"]
    name: str
    language: str | None = None
    location: str | None = None
    file: str | None = None
    dependencies: list[str] | None = None
    with_: dict[str, Any] | None = Field(default=None, alias="with")


Step = Annotated[CallStep | LookupStep | ScriptStep, Field(discriminator="type")]


class StepOutputMapping(Model):
    targetName: str
    value: str
