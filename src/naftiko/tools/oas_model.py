"""What an OpenAPI document says, once read: the API, its operations, parameters and auth."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

BodyKind = Literal["fields", "whole", "form"]


@dataclass
class Param:
    """One input of an operation: a path/query/header/cookie parameter or a body field."""

    name: str
    location: str  # path | query | header | cookie | body
    schema: dict[str, Any]
    description: str | None = None
    required: bool = False


@dataclass
class Op:
    name: str
    method: str
    path: str  # OpenAPI form, `{x}` variables
    summary: str | None
    description: str | None
    params: list[Param] = field(default_factory=list)
    body: BodyKind | None = None
    response: dict[str, Any] | None = None  # the 2xx JSON schema
    output_format: str = "json"  # the 2xx media type, as an `outputRawFormat`
    deprecated: bool = False


@dataclass
class Auth:
    """The upstream's first security scheme: a Naftiko authentication kind and its variables."""

    kind: Literal["bearer", "apikey", "basic", "digest", "oauth2"]
    key: str = ""  # the API key's header or query name
    placement: str = "header"
    token_url: str = ""
    scopes: tuple[str, ...] = ()


@dataclass
class Api:
    title: str
    description: str | None
    namespace: str
    base_uri: str
    ops: list[Op] = field(default_factory=list)
    auth: Auth | None = None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_KEBAB = re.compile(r"[^a-zA-Z0-9]+")


def kebab(text: str) -> str:
    """`listBatches`, `List batches`, `list_batches` → `list-batches` ([a-z0-9-], no edges)."""
    spaced = _CAMEL.sub("-", text)
    return _NOT_KEBAB.sub("-", spaced).strip("-").lower()


def upper_snake(text: str) -> str:
    return kebab(text).replace("-", "_").upper()
