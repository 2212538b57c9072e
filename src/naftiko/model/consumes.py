"""Consumed HTTP APIs: adapters, resources, operations and request bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from naftiko.model.auth import Authentication
from naftiko.model.base import Model, empty
from naftiko.model.parameters import InputParameter, OutputParameter

BodyType = Literal["json", "text", "xml", "sparql", "formUrlEncoded", "multipartForm"]


class StructuredBody(Model):
    """`body: {type, data}`; a bare string body is kept as `str` (RequestBodyRaw)."""

    type: BodyType
    data: Any = None


RequestBody = str | StructuredBody


class ConsumedOperation(Model):
    name: str
    method: str = "GET"
    label: str | None = None
    description: str | None = None
    # Dialect: a per-operation path overriding the resource's (seen in the wild).
    path: str | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)
    outputRawFormat: str = "json"
    outputSchema: str | None = None
    outputParameters: list[OutputParameter] = Field(default_factory=empty)
    body: RequestBody | None = None


class ConsumedResource(Model):
    name: str
    path: str = ""
    label: str | None = None
    description: str | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)
    operations: list[ConsumedOperation] = Field(default_factory=empty)


class ConsumesHttp(Model):
    namespace: str
    type: Literal["http"] = "http"
    baseUri: str
    description: str | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)
    authentication: Authentication | None = None
    resources: list[ConsumedResource] = Field(default_factory=empty)
