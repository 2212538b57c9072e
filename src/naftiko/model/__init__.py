"""Typed, frozen models of spec 1.0.0-alpha2 (plus the tolerated real-world dialect)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def _plugins_off() -> Iterator[None]:
    """Build the spec models without pydantic plugins: looking them up scans every installed
    package's entry points at start-up, and the models are internal to the loader, nothing a
    plugin has to observe."""
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


# Every model is built (its validator compiled) when its module is imported: here.
with _plugins_off():
    from naftiko.model.auth import (
        ApiKeyAuth,
        Authentication,
        AwsSigV4Auth,
        BasicAuth,
        BearerAuth,
        DigestAuth,
        OAuth2Auth,
        UnsupportedAuth,
    )
    from naftiko.model.base import Model
    from naftiko.model.capability import (
        Aggregate,
        AggregateFunction,
        Binding,
        Capability,
        CapabilityBody,
        Info,
        Person,
        Semantics,
    )
    from naftiko.model.consumes import (
        ConsumedOperation,
        ConsumedResource,
        ConsumesHttp,
        RequestBody,
        StructuredBody,
    )
    from naftiko.model.exposes import (
        Adapter,
        ExposedOperation,
        ExposedResource,
        ExposedSkill,
        ExposesControl,
        ExposesMcp,
        ExposesRest,
        ExposesSkill,
        ForwardConfig,
        McpPrompt,
        McpResource,
        McpTool,
        McpToolHints,
        SkillTool,
    )
    from naftiko.model.parameters import InputParameter, OutputParameter
    from naftiko.model.steps import (
        CallStep,
        LookupStep,
        ScriptStep,
        Step,
        StepOutputMapping,
    )

__all__ = [
    "Adapter",
    "Aggregate",
    "AggregateFunction",
    "ApiKeyAuth",
    "Authentication",
    "AwsSigV4Auth",
    "BasicAuth",
    "BearerAuth",
    "Binding",
    "CallStep",
    "Capability",
    "CapabilityBody",
    "ConsumedOperation",
    "ConsumedResource",
    "ConsumesHttp",
    "DigestAuth",
    "ExposedOperation",
    "ExposedResource",
    "ExposedSkill",
    "ExposesControl",
    "ExposesMcp",
    "ExposesRest",
    "ExposesSkill",
    "ForwardConfig",
    "Info",
    "InputParameter",
    "LookupStep",
    "McpPrompt",
    "McpResource",
    "McpTool",
    "McpToolHints",
    "Model",
    "OAuth2Auth",
    "OutputParameter",
    "Person",
    "RequestBody",
    "ScriptStep",
    "Semantics",
    "SkillTool",
    "Step",
    "StepOutputMapping",
    "StructuredBody",
    "UnsupportedAuth",
]
