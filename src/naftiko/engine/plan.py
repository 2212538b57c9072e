"""Everything a request needs, resolved once at startup into immutable objects: the `Plan`
of a capability, its consumed `Operation`s and exposed `Action`s (`planner.build_plan` makes
them; adapters only look actions up)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from naftiko.engine.inputs import Input
from naftiko.engine.scripting import Script
from naftiko.expressions import (
    StepPath,
    Template,
    Var,
    WithValue,
    norm,
)
from naftiko.model import (
    Authentication,
    Capability,
    McpToolHints,
    OutputParameter,
)
from naftiko.model.auth import owned_headers
from naftiko.spec.bindings import Bindings
from naftiko.vocabulary import IDEMPOTENT_METHODS

# forward: the request passed on as it came (`Engine.forward`), never through `invoke`.
Mode = Literal["call", "steps", "ref", "mock", "forward"]
# Where a URL variable stands. Only configuration may fill the origin's scheme, userinfo and
# port; a caller's value may fill a HOST position only as one DNS label (SECURITY.md).
SCHEME, USERINFO, HOST, PORT, PATH, QUERY = "scheme", "userinfo", "host", "port", "path", "query"
ORIGIN = frozenset({SCHEME, USERINFO, HOST, PORT})


def server_of(url: str) -> str:
    """The host an upstream URL names (`server.address`), without parsing the whole URL."""
    netloc = url.split("/", 3)[2] if "://" in url else ""
    host = netloc.rpartition("@")[2]
    return host.rsplit(":", 1)[0] if not host.endswith("]") and ":" in host else host


@dataclass(frozen=True)
class ConsumedParam:
    name: str
    location: str  # query | header | path | cookie | body | environment
    value: Template | None = None
    required: bool = False
    type: str | None = None
    description: str | None = None
    enum: tuple[Any, ...] | None = None  # the values the upstream takes (MCP completion)


@dataclass(frozen=True)
class BodyPlan:
    kind: str  # template | json | text | xml | sparql | formUrlEncoded | multipartForm | params
    template: Template | None = None
    data: Any = None
    params: tuple[ConsumedParam, ...] = ()


@dataclass(frozen=True)
class Operation:
    """One consumed HTTP operation, ready to render."""

    namespace: str
    name: str
    method: str
    url: Template
    params: tuple[ConsumedParam, ...]
    body: BodyPlan | None
    fmt: str
    output_schema: str | None
    outputs: tuple[OutputParameter, ...]
    description: str | None = None
    url_segments: tuple[tuple[str | Var, str], ...] = ()

    @cached_property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    @cached_property
    def server(self) -> str | None:
        """The host the URL names (the metrics' `server.address`) when configuration alone
        writes the origin (no variable before the path); else None: decided per request."""
        if not self.url_segments:
            return None
        text = ""
        for part, where in self.url_segments:
            if not isinstance(part, str):
                if where in ORIGIN:
                    return None
                break
            text += part
        return server_of(text)

    @cached_property
    def checked_params(self) -> tuple[ConsumedParam, ...]:
        """The parameters a request still has to look up once its URL is built: a plain
        `in: path` parameter that a path variable of the same name stands for was found
        (present, not empty) by the URL itself, and has nothing else to add."""
        in_path = {p.name for p, where in self.url_segments if isinstance(p, Var) and where == PATH}
        return tuple(
            p
            for p in self.params
            if not (p.location == "path" and p.value is None and p.name in in_path)
        )


@dataclass(frozen=True)
class CallStepPlan:
    name: str
    operation: Operation
    with_: tuple[tuple[str, WithValue], ...]


@dataclass(frozen=True)
class LookupStepPlan:
    name: str
    index: str
    match: str
    value: StepPath | Template
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ScriptStepPlan:
    name: str
    script: Script
    with_: tuple[tuple[str, WithValue], ...] = ()


StepPlan = CallStepPlan | LookupStepPlan | ScriptStepPlan


@dataclass(frozen=True)
class Action:
    """An exposed unit: what the caller may send, and how it runs."""

    name: str
    namespace: str
    mode: Mode
    inputs: tuple[Input, ...] = ()
    with_: tuple[tuple[str, WithValue], ...] = ()
    operation: Operation | None = None
    steps: tuple[StepPlan, ...] = ()
    mappings: tuple[tuple[str, StepPath], ...] = ()
    outputs: tuple[OutputParameter, ...] = ()
    delegate: Action | None = None
    description: str | None = None
    label: str | None = None
    hints: McpToolHints | None = None
    passthrough: bool = True  # outputs that leave the upstream's JSON as it is

    @property
    def caller_inputs(self) -> tuple[Input, ...]:
        """Everything a caller may fill: the unit's inputs, then its function's (a `ref`)."""
        if self.delegate is None:
            return self.inputs
        known = {norm(i.name) for i in self.inputs}
        return self.inputs + tuple(i for i in self.delegate.inputs if norm(i.name) not in known)

    @property
    def input_schema(self) -> dict[str, Any]:
        inputs = self.inputs or (self.delegate.inputs if self.delegate else ())
        if not inputs:
            return {"type": "object"}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {i.name: i.json_schema() for i in inputs if i.const is None},
        }
        required = [i.name for i in inputs if i.required and i.const is None]
        if required:
            schema["required"] = required
        return schema


@dataclass(frozen=True)
class Client:
    """A consumed namespace: where and how to authenticate."""

    namespace: str
    base_uri: str
    authentication: Authentication | None
    # Adapter-level header parameters with a value: sent on `forward` requests too (§3.7).
    headers: tuple[ConsumedParam, ...] = ()

    @cached_property
    def owned(self) -> frozenset[str]:
        """The headers its credentials set, which a forward's caller may not send instead."""
        return owned_headers(self.authentication)


@dataclass(frozen=True)
class Plan:
    capability: Capability
    bindings: Bindings
    clients: Mapping[str, Client]
    operations: Mapping[str, Operation]
    functions: Mapping[str, Action] = field(default_factory=dict)
    scripts: Mapping[int, Script] = field(default_factory=dict)  # by id() of the ScriptStep
