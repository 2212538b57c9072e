"""Exposed adapters: REST, MCP (tools, resources, prompts), Skill and Control."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from naftiko.model.auth import Authentication
from naftiko.model.base import Model, empty
from naftiko.model.parameters import InputParameter, OutputParameter
from naftiko.model.steps import Step, StepOutputMapping


class _Unit(Model):
    """What REST operations, MCP tools/resources and aggregate functions share: how they run."""

    call: str | None = None
    ref: str | None = None
    with_: dict[str, Any] | None = Field(default=None, alias="with")
    steps: list[Step] = Field(default_factory=empty)
    mappings: list[StepOutputMapping] = Field(default_factory=empty)
    outputParameters: list[OutputParameter] = Field(default_factory=empty)


class ForwardConfig(Model):
    targetNamespace: str
    trustedHeaders: list[str] = Field(default_factory=empty)


class _Described(Model):
    """What a REST resource and each of its operations may say of themselves and take."""

    name: str | None = None
    label: str | None = None
    description: str | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)


class ExposedOperation(_Unit, _Described):
    method: str


class ExposedResource(_Described):
    path: str
    operations: list[ExposedOperation] = Field(default_factory=empty)
    forward: ForwardConfig | None = None


class _Server(Model):
    address: str | None = None
    # Strict: YAML `true` or `8080.5` must not become a port.
    port: Annotated[int, Field(strict=True)] | None = None
    description: str | None = None
    authentication: Authentication | None = None


class ExposesRest(_Server):
    type: Literal["rest"]
    namespace: str
    inputParameters: list[InputParameter] = Field(default_factory=empty)
    resources: list[ExposedResource] = Field(default_factory=empty)


class McpToolHints(Model):
    readOnly: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    openWorld: bool | None = None


class McpTool(_Unit):
    name: str = ""
    label: str | None = None
    description: str | None = None
    inputParameters: list[InputParameter] = Field(default_factory=empty)
    hints: McpToolHints | None = None


class McpResource(_Unit):
    name: str
    uri: str
    label: str | None = None
    description: str | None = None
    mimeType: str | None = None
    location: str | None = None


class McpPromptArgument(Model):
    name: str
    label: str | None = None
    description: str | None = None
    required: bool | None = None


class McpPromptMessage(Model):
    role: Literal["user", "assistant"]
    content: str


class McpPrompt(Model):
    name: str
    label: str | None = None
    description: str | None = None
    arguments: list[McpPromptArgument] = Field(default_factory=empty)
    template: list[McpPromptMessage] | None = None
    location: str | None = None


class ExposesMcp(_Server):
    type: Literal["mcp"]
    namespace: str
    transport: Literal["http", "stdio"] = "http"
    tools: list[McpTool] = Field(default_factory=empty)
    resources: list[McpResource] = Field(default_factory=empty)
    prompts: list[McpPrompt] = Field(default_factory=empty)


class SkillToolFrom(Model):
    sourceNamespace: str
    action: str


class SkillTool(Model):
    name: str
    description: str | None = None
    from_: SkillToolFrom | None = Field(default=None, alias="from")
    instruction: str | None = None


class ExposedSkill(Model):
    name: str
    description: str | None = None
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, Any] | None = None
    allowed_tools: str | None = Field(default=None, alias="allowed-tools")
    argument_hint: str | None = Field(default=None, alias="argument-hint")
    user_invocable: bool | None = Field(default=None, alias="user-invocable")
    disable_model_invocation: bool | None = Field(default=None, alias="disable-model-invocation")
    location: str | None = None
    tools: list[SkillTool] = Field(default_factory=empty)


class ExposesSkill(_Server):
    type: Literal["skill"]
    namespace: str
    skills: list[ExposedSkill] = Field(default_factory=empty)


class ScriptingManagement(Model):
    enabled: bool | None = None
    defaultLocation: str | None = None
    defaultLanguage: str | None = None
    timeout: int | None = None
    statementLimit: int | None = None
    allowedLanguages: list[str] | None = None


class ControlManagement(Model):
    health: bool = True
    info: bool = False
    reload: bool = False
    validate_: bool = Field(default=False, alias="validate")
    logs: bool | dict[str, Any] = False
    scripting: ScriptingManagement | None = None


class LocalEndpoint(Model):
    enabled: bool = True


class ObservabilityMetrics(Model):
    local: LocalEndpoint | None = None


class ObservabilityTraces(Model):
    sampling: float | None = None
    propagation: Literal["w3c", "b3"] | None = None
    local: dict[str, Any] | None = None


class Observability(Model):
    enabled: bool = True
    metrics: ObservabilityMetrics | None = None
    traces: ObservabilityTraces | None = None
    exporters: dict[str, Any] | None = None


class ExposesControl(_Server):
    type: Literal["control"]
    namespace: str | None = None
    management: ControlManagement = Field(default_factory=ControlManagement)
    observability: Observability | None = None


Adapter = ExposesRest | ExposesMcp | ExposesSkill | ExposesControl
