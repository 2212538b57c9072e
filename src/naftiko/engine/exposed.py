"""Adapter plans: each exposed adapter's routes, tools and credentials, resolved at startup."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from naftiko.engine.actions import action_for
from naftiko.engine.inputs import Input
from naftiko.engine.plan import Action, Plan
from naftiko.engine.scope import Scope
from naftiko.errors import BindingError
from naftiko.expressions import parse_template, to_text
from naftiko.model import (
    ApiKeyAuth,
    Authentication,
    BasicAuth,
    BearerAuth,
    DigestAuth,
    ExposesMcp,
    ExposesRest,
    McpToolHints,
    OAuth2Auth,
)
from naftiko.model.exposes import McpPrompt, McpResource


@dataclass(frozen=True)
class OAuthPolicy:
    """What an OAuth 2.1 resource server accepts (SEMANTICS §5.8), resolved at startup."""

    issuer: str  # authorizationServerUri, without a trailing slash
    audience: str  # `aud` must contain it: `audience`, or else `resource` (RFC 8707)
    resource: str | None  # the RFC 9728 resource identifier, when the spec names one
    scopes: tuple[str, ...]
    validation: str  # jwks | introspection
    token_endpoint: str | None = None
    client_id: str = ""  # introspection's client credentials (from binds)
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Guard:
    """Adapter authentication with its expected secrets already resolved."""

    kind: str  # bearer | apikey | basic | digest | oauth2
    secret: str = field(repr=False)
    key: str = ""
    placement: str = "header"
    username: str = ""
    oauth: OAuthPolicy | None = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    regex: re.Pattern[str]
    variables: tuple[tuple[str, str], ...]  # (regex group, variable name)
    action: Action
    forward_namespace: str | None = None
    trusted_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestPlan:
    namespace: str
    description: str | None
    guard: Guard | None
    routes: tuple[Route, ...]
    title: str


@dataclass(frozen=True)
class McpPlan:
    namespace: str
    description: str | None
    guard: Guard | None
    tools: dict[str, Action]
    resources: tuple[tuple[McpResource, Action | None], ...] = ()
    prompts: tuple[McpPrompt, ...] = ()
    title: str = ""


def compile_path(path: str) -> tuple[re.Pattern[str], tuple[tuple[str, str], ...]]:
    """`/ships/{imo}` or `/ships/{{imo}}` → a regex; a variable named `path` spans segments.
    Read by the one template parser, so a route variable is what every other template calls
    a variable."""
    pattern = "^"
    variables: list[tuple[str, str]] = []
    for part in parse_template(path, single_braces=True).parts:
        if isinstance(part, str):
            pattern += re.escape(part)
            continue
        group = f"v{len(variables)}"
        pattern += f"(?P<{group}>.+)" if part.name == "path" else f"(?P<{group}>[^/]+)"
        variables.append((group, part.name))
    return re.compile(pattern + "$"), tuple(variables)


def rest_plan(plan: Plan, index: int, adapter: ExposesRest) -> RestPlan:
    routes: list[Route] = []
    at = ("capability", "exposes", index)
    for resource in adapter.resources:
        regex, variables = compile_path(resource.path)
        implicit = tuple(Input(name=name, location="path", required=True) for _, name in variables)
        for op in resource.operations:
            name = op.name or f"{op.method.upper()} {resource.path}"
            action = action_for(
                plan,
                op,
                name,
                adapter.namespace,
                [
                    *adapter.inputParameters,
                    *resource.inputParameters,
                    *op.inputParameters,
                ],
                implicit=implicit,
                description=op.description or resource.description,
                label=op.label,
                required_by_default=False,
            )
            routes.append(Route(op.method.upper(), resource.path, regex, variables, action))
        if resource.forward is not None:
            forward = Action(
                name=f"forward {resource.path}",
                namespace=adapter.namespace,
                mode="forward",
            )
            routes.append(
                Route(
                    "*",
                    resource.path,
                    regex,
                    variables,
                    forward,
                    resource.forward.targetNamespace,
                    tuple(resource.forward.trustedHeaders),
                )
            )
    title = (plan.capability.info.label if plan.capability.info else None) or adapter.namespace
    return RestPlan(
        namespace=adapter.namespace,
        description=adapter.description,
        guard=guard(plan, adapter.authentication, at),
        routes=tuple(routes),
        title=title,
    )


def mcp_plan(plan: Plan, index: int, adapter: ExposesMcp) -> McpPlan:
    at = ("capability", "exposes", index)
    tools: dict[str, Action] = {}
    for tool in adapter.tools:
        delegate = plan.functions.get(tool.ref) if tool.ref else None
        name = tool.name or (delegate.name if delegate else "")
        if not name:
            continue
        hints = _merge_hints(tool.hints, delegate.hints if delegate else None)
        tools[name] = action_for(
            plan,
            tool,
            name,
            adapter.namespace,
            tool.inputParameters,
            description=tool.description or (delegate.description if delegate else None),
            label=tool.label,
            hints=hints,
        )
    resources = tuple(
        (
            res,
            action_for(
                plan,
                res,
                res.name,
                adapter.namespace,
                [],
                # The URI template's variables are the resource's inputs (§6.7).
                implicit=tuple(
                    Input(name=name, location="path", required=True)
                    for name in _uri_variables(res.uri)
                ),
                description=res.description,
            )
            # A resource with outputs but no location is a mock, read like a tool (§4.5).
            if (res.call or res.steps or (res.outputParameters and not res.location))
            else None,
        )
        for res in adapter.resources
    )
    title = (plan.capability.info.label if plan.capability.info else None) or adapter.namespace
    return McpPlan(
        namespace=adapter.namespace,
        description=adapter.description,
        guard=guard(plan, adapter.authentication, at),
        tools=tools,
        resources=resources,
        prompts=tuple(adapter.prompts),
        title=title,
    )


def _merge_hints(
    explicit: McpToolHints | None, derived: McpToolHints | None
) -> McpToolHints | None:
    """Explicit hints win field by field over those derived from aggregate `semantics`."""
    if derived is None:
        return explicit
    if explicit is None:
        return derived
    merged = {k: v for k, v in derived.model_dump().items() if v is not None}
    merged.update({k: v for k, v in explicit.model_dump().items() if v is not None})
    return McpToolHints(**merged)


def guard(plan: Plan, auth: Authentication | None, at: tuple[str | int, ...]) -> Guard | None:
    """Resolve adapter credentials now: an unbound secret stops startup (it must never become
    the literal text `{{VAR}}` that a caller could send, as in the reference engine)."""
    if auth is None:
        return None
    where = plan.capability.locate((*at, "authentication"))
    if isinstance(auth, BearerAuth):
        return Guard("bearer", _secret(plan, auth.token, where))
    if isinstance(auth, ApiKeyAuth):
        key = auth.key or "X-API-Key"
        return Guard(
            "apikey",
            _secret(plan, auth.value, where),
            key=key,
            placement=auth.placement,
        )
    if isinstance(auth, BasicAuth):
        user = _secret(plan, auth.username, where)
        return Guard("basic", _secret(plan, auth.password, where), username=user)
    if isinstance(auth, DigestAuth):
        user = _secret(plan, auth.username, where)
        return Guard("digest", _secret(plan, auth.password, where), username=user)
    if isinstance(auth, OAuth2Auth):
        return Guard("oauth2", "", oauth=_oauth_policy(plan, auth, where))
    raise BindingError(f"adapter authentication {auth.type!r} is not supported", where)


def _oauth_policy(plan: Plan, auth: OAuth2Auth, where: Any) -> OAuthPolicy:
    issuer = _secret(plan, auth.authorizationServerUri, where).rstrip("/")
    resource = _secret(plan, auth.resource, where) if auth.resource else None
    audience = _secret(plan, auth.audience, where) if auth.audience else resource
    if not issuer.startswith(("https://", "http://")):
        raise BindingError("oauth2 `authorizationServerUri` must be an http(s) URL", where)
    if audience is None:
        # Without an expected audience any token of the issuer would do, even one minted
        # for another service (the confused deputy RFC 8707 exists to prevent).
        raise BindingError("oauth2 adapter authentication needs `audience` or `resource`", where)
    introspection = auth.tokenValidation == "introspection"
    return OAuthPolicy(
        issuer=issuer,
        audience=audience,
        resource=resource,
        scopes=tuple(auth.scopes or ()),
        validation="introspection" if introspection else "jwks",
        token_endpoint=_secret(plan, auth.tokenEndpoint, where) if auth.tokenEndpoint else None,
        client_id=_secret(plan, auth.clientId, where) if introspection else "",
        client_secret=_secret(plan, auth.clientSecret, where) if introspection else "",
    )


def _secret(plan: Plan, text: str | None, where: Any) -> str:
    template = parse_template(text or "")
    scope = Scope({}, plan.bindings)
    for var in template.variables:
        if scope.get(var) is None:
            raise BindingError(f"variable {var.name} is not set (bind it or set it)", where)
    value = template.render(scope.get, encode=to_text)
    if not value:
        raise BindingError("adapter authentication needs a non-empty secret", where)
    return value


def _uri_variables(uri: str) -> list[str]:
    """An MCP resource URI template's variables, read as `mcp_content` matches them."""
    return [v.name for v in parse_template(uri, single_braces=True).variables]


__all__ = [
    "Guard",
    "McpPlan",
    "OAuthPolicy",
    "RestPlan",
    "Route",
    "compile_path",
    "mcp_plan",
    "rest_plan",
]
