"""The document root, `info`, `binds`, the capability body and aggregates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import Field, PrivateAttr

from naftiko.errors import Location, Problem
from naftiko.model.base import Model, empty
from naftiko.model.consumes import ConsumesHttp
from naftiko.model.exposes import (
    ExposesControl,
    ExposesMcp,
    ExposesRest,
    ExposesSkill,
    McpToolHints,
    _Unit,
)
from naftiko.model.parameters import InputParameter


class Person(Model):
    role: str | None = None
    fullName: str | None = None
    email: str | None = None


class Info(Model):
    label: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=empty)
    created: str | None = None
    modified: str | None = None
    stakeholders: list[Person] = Field(default_factory=empty)


class Binding(Model):
    namespace: str
    keys: dict[str, str]
    description: str | None = None
    location: str | None = None


class Semantics(Model):
    safe: bool | None = None
    idempotent: bool | None = None
    cacheable: bool | None = None

    def hints(self) -> McpToolHints:
        """`safe` → read-only and not destructive; `idempotent` copied (SEMANTICS §7.6)."""
        read_only = self.safe
        destructive = False if self.safe else None
        return McpToolHints(readOnly=read_only, destructive=destructive, idempotent=self.idempotent)


class AggregateFunction(_Unit):
    name: str
    description: str | None = None
    semantics: Semantics | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)


class Aggregate(Model):
    namespace: str
    label: str | None = None
    functions: list[AggregateFunction] = Field(default_factory=empty)


AnyAdapter = Annotated[
    ExposesRest | ExposesMcp | ExposesSkill | ExposesControl,
    Field(discriminator="type"),
]


class CapabilityBody(Model):
    binds: list[Binding] = Field(default_factory=empty)
    consumes: list[ConsumesHttp] = Field(default_factory=empty)
    exposes: list[AnyAdapter] = Field(default_factory=empty)
    aggregates: list[Aggregate] = Field(default_factory=empty)


class Capability(Model):
    """A loaded spec file: a capability, or a shared consumes file (root `consumes`)."""

    naftiko: str
    info: Info | None = None
    binds: list[Binding] = Field(default_factory=empty)
    capability: CapabilityBody | None = None
    consumes: list[ConsumesHttp] = Field(default_factory=empty)

    _path: Path = PrivateAttr(default=Path("."))
    _warnings: list[Problem] = PrivateAttr(default_factory=empty)
    _locator: Callable[[tuple[str | int, ...]], Location] | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path:
        """The spec file; relative files (binds, resources, skills) resolve against its folder."""
        return self._path

    @property
    def warnings(self) -> list[Problem]:
        return list(self._warnings)

    def locate(self, path: tuple[str | int, ...]) -> Location:
        """FILE:LINE:COL of a node, e.g. `("capability", "exposes", 0, "port")`."""
        if self._locator is None:
            return Location(str(self._path))
        return self._locator(path)

    @property
    def body(self) -> CapabilityBody:
        return self.capability or CapabilityBody()

    def attach(
        self,
        path: Path,
        warnings: list[Problem],
        locator: Callable[[tuple[str | int, ...]], Location],
    ) -> None:
        self._path = path
        self._warnings = warnings
        self._locator = locator
