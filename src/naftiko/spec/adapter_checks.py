"""Load-time checks of the exposed adapters: ports, routes, tool names, skills, credentials."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from naftiko.errors import Problem
from naftiko.expressions import parse_template, unbalanced_braces
from naftiko.model import (
    ApiKeyAuth,
    Authentication,
    BasicAuth,
    BearerAuth,
    Capability,
    DigestAuth,
    ExposesControl,
    ExposesMcp,
    ExposesRest,
    ExposesSkill,
    OAuth2Auth,
)
from naftiko.spec.upstream_checks import NEVER_FROM_CALLER
from naftiko.vocabulary import HTTP_METHODS

if TYPE_CHECKING:
    from naftiko.spec.loader import LoadContext
    from naftiko.spec.source import PathKey


def check_adapters(cap: Capability, ctx: LoadContext, errors: list[Problem]) -> None:
    _ports(cap, ctx, errors)
    _skills(cap, ctx, errors)
    binds = {b.namespace for b in (*cap.binds, *cap.body.binds)}
    for i, adapter in enumerate(cap.body.exposes):
        at: PathKey = ("capability", "exposes", i)
        if isinstance(adapter, ExposesRest):
            _rest(adapter, at, ctx, errors)
        elif isinstance(adapter, ExposesMcp):
            _mcp(adapter, at, ctx, errors)
        _adapter_secret(adapter.authentication, (*at, "authentication"), ctx, errors)
        _credential_names(adapter.authentication, (*at, "authentication"), ctx, errors)
        if isinstance(adapter.authentication, OAuth2Auth):
            _oauth2_challenge(adapter.authentication, (*at, "authentication"), ctx, errors)
        _bind_references(adapter.authentication, (*at, "authentication"), binds, ctx, errors)
    for i, consumes in enumerate(cap.body.consumes):
        at = ("capability", "consumes", i, "authentication")
        _bind_references(consumes.authentication, at, binds, ctx, errors)


def _rest(adapter: ExposesRest, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    for r, resource in enumerate(adapter.resources):
        rat = (*at, "resources", r)
        trusted = resource.forward.trustedHeaders if resource.forward is not None else []
        for h, name in enumerate(trusted):
            # The upstream's authority and the request's framing are never a caller's (a
            # Transfer-Encoding beside the gateway's Content-Length would smuggle a request).
            token = _TOKEN.fullmatch(name)
            if name.lower() in NEVER_FROM_CALLER or not token:
                why = "is not a header name" if not token else "is the gateway's"
                msg = f"trusted header {name!r} {why}: a caller may never set it upstream"
                errors.append(ctx.problem((*rat, "forward", "trustedHeaders", h), msg))
        offset = unbalanced_braces(resource.path)
        if offset is not None:
            msg = f"unbalanced braces at character {offset + 1} of {resource.path!r}"
            errors.append(ctx.problem((*rat, "path"), msg))
        if not resource.path.startswith("/"):
            ctx.warn((*rat, "path"), f"path {resource.path!r} read as '/{resource.path}'")
        seen: dict[str, int] = {}
        for o, op in enumerate(resource.operations):
            method = op.method.upper()
            if method not in HTTP_METHODS:
                msg = f"invalid HTTP method {op.method!r} (expected one of {sorted(HTTP_METHODS)})"
                errors.append(ctx.problem((*rat, "operations", o, "method"), msg))
            elif method in seen:
                first = seen[method]
                msg = f"second {method} on {resource.path!r} (see operations[{first}]): unreachable"
                errors.append(ctx.problem((*rat, "operations", o, "method"), msg))
            seen.setdefault(method, o)


def _mcp(adapter: ExposesMcp, at: PathKey, ctx: LoadContext, errors: list[Problem]) -> None:
    seen: dict[str, int] = {}
    for t, tool in enumerate(adapter.tools):
        if not tool.name:
            if not tool.ref:
                errors.append(ctx.problem((*at, "tools", t), "a tool needs a `name`"))
            continue
        if tool.name in seen:
            msg = f"duplicate tool name {tool.name!r} (first at tools[{seen[tool.name]}])"
            errors.append(ctx.problem((*at, "tools", t, "name"), msg))
        seen.setdefault(tool.name, t)


def _adapter_secret(
    auth: Authentication | None, at: PathKey, ctx: LoadContext, errors: list[Problem]
) -> None:
    """Adapter credentials need their secret: an empty one would let nobody, or anybody, in."""
    missing = None
    if isinstance(auth, BearerAuth) and not auth.token:
        missing = "token"
    elif isinstance(auth, ApiKeyAuth) and not auth.value:
        missing = "value"
    elif isinstance(auth, BasicAuth | DigestAuth) and not (auth.username and auth.password):
        missing = "username" if not auth.username else "password"
    elif isinstance(auth, OAuth2Auth) and not auth.authorizationServerUri:
        missing = "authorizationServerUri"
    elif isinstance(auth, OAuth2Auth) and not (auth.audience or auth.resource):
        # Without an expected audience any token of the issuer would pass, even one minted
        # for another service (the confused deputy that RFC 8707 resource indicators prevent).
        missing = "audience` or a `resource"
    elif (
        isinstance(auth, OAuth2Auth)
        and auth.tokenValidation == "introspection"
        and not (auth.clientId and auth.clientSecret)
    ):
        # RFC 7662 §2.1: the resource server authenticates to the introspection endpoint.
        field = "clientId" if not auth.clientId else "clientSecret"
        msg = f"oauth2 `tokenValidation: introspection` needs a `{field}` to ask the issuer"
        errors.append(ctx.problem(at, msg))
    if missing is not None:
        article = "an" if missing[0] in "aeiou" else "a"
        msg = f"{auth.type if auth else ''} authentication needs {article} `{missing}`"
        errors.append(ctx.problem(at, msg))


# RFC 9110 §5.6.2: a header name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6749 §3.3: a scope token is printable ASCII without space, `"` or `\\`.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# An absolute http(s) URI: no space, quote or control character (RFC 3986 has none).
_HTTP_URI = re.compile(r"https?://[\x21\x23-\x3b\x3d\x3f-\x5b\x5d\x5f\x61-\x7a\x7e]+")


def _oauth2_challenge(
    auth: OAuth2Auth, at: PathKey, ctx: LoadContext, errors: list[Problem]
) -> None:
    """The scopes and the resource are written into every 401's `WWW-Authenticate` (RFC 6750
    §3, RFC 9728 §5.1) as quoted strings: a `"`, a space inside a scope, or a line break
    would end the string or the header, so they are refused here, not sent."""
    for i, scope in enumerate(auth.scopes or []):
        if not _SCOPE_TOKEN.fullmatch(scope):
            msg = f"scope {scope!r} is not an RFC 6749 scope token"
            msg += ' (printable ASCII; no space, `"` or `\\`)'
            errors.append(ctx.problem((*at, "scopes", i), msg))
    for key in ("resource", "authorizationServerUri"):
        value = getattr(auth, key)
        if value and "{{" not in value and not _HTTP_URI.fullmatch(value):
            msg = f"{key} {value!r} is not an absolute http(s) URI"
            errors.append(ctx.problem((*at, key), msg))
    issuer = auth.authorizationServerUri or ""
    if "{{" not in issuer and ("?" in issuer or "#" in issuer):
        # RFC 8414 §2: an issuer has no query or fragment; its metadata would not be found.
        msg = f"authorizationServerUri {issuer!r} has a query or fragment (RFC 8414 allows none)"
        errors.append(ctx.problem((*at, "authorizationServerUri"), msg))


def _credential_names(
    auth: Authentication | None, at: PathKey, ctx: LoadContext, errors: list[Problem]
) -> None:
    """Names a caller could never send: such an adapter would refuse everybody, silently."""
    key = auth.key if isinstance(auth, ApiKeyAuth) and auth.placement == "header" else None
    if key and "{{" not in key and not _TOKEN.fullmatch(key):
        msg = f"header name {key!r} is not an HTTP token (RFC 9110 §5.1)"
        errors.append(ctx.problem((*at, "key"), msg))
    if isinstance(auth, BasicAuth) and auth.username and ":" in auth.username:
        # RFC 7617 §2: the first colon of the credentials ends the user-id.
        msg = f"username {auth.username!r} holds a ':', which no credentials can carry"
        errors.append(ctx.problem((*at, "username"), msg))


def _bind_references(
    auth: Authentication | None,
    at: PathKey,
    binds: set[str],
    ctx: LoadContext,
    errors: list[Problem],
) -> None:
    """`{{ns.VAR}}` in credentials must name a declared bind namespace (or `env`)."""
    if auth is None:
        return
    for key, value in auth.model_dump(exclude_none=True).items():
        if not isinstance(value, str):
            continue
        for var in parse_template(value).variables:
            head, dot, _ = var.name.partition(".")
            if dot and head not in binds and head != "env":
                known = ", ".join(sorted(binds)) or "none"
                msg = f"{{{{{var.name}}}}}: no bind namespace {head!r} (declared: {known})"
                errors.append(ctx.problem((*at, key), msg))


def _ports(cap: Capability, ctx: LoadContext, errors: list[Problem]) -> None:
    used: dict[tuple[str, int], int] = {}
    for i, adapter in enumerate(cap.body.exposes):
        at = ("capability", "exposes", i)
        if isinstance(adapter, ExposesMcp) and adapter.transport == "stdio":
            continue
        port = adapter.port
        if port is None:
            if isinstance(adapter, ExposesRest | ExposesSkill | ExposesControl | ExposesMcp):
                errors.append(ctx.problem(at, f"{adapter.type} adapter needs a `port`"))
            continue
        if not 0 <= port < 65536:
            errors.append(ctx.problem((*at, "port"), f"port {port} is outside 0-65535"))
            continue
        if port == 0:
            continue  # 0 asks the OS for a free port
        key = (adapter.address or "", port)
        if key in used:
            msg = f"port {port} is already used by exposes[{used[key]}]"
            errors.append(ctx.problem((*at, "port"), msg))
        used.setdefault(key, i)


def _skills(cap: Capability, ctx: LoadContext, errors: list[Problem]) -> None:
    """Skill tools (SEMANTICS §8.1): exactly one of `from`/`instruction`; `from` names a sibling
    rest or mcp adapter; `instruction` needs the skill's `location`."""
    siblings = {a.namespace for a in cap.body.exposes if isinstance(a, ExposesRest | ExposesMcp)}
    for i, adapter in enumerate(cap.body.exposes):
        if not isinstance(adapter, ExposesSkill):
            continue
        for s, skill in enumerate(adapter.skills):
            for t, tool in enumerate(skill.tools):
                at = ("capability", "exposes", i, "skills", s, "tools", t)
                label = f"skill tool {tool.name!r} of skill {skill.name!r}"
                if (tool.from_ is None) == (tool.instruction is None):
                    msg = f"{label} needs exactly one of `from` or `instruction`"
                    errors.append(ctx.problem(at, msg))
                elif tool.from_ is not None and tool.from_.sourceNamespace not in siblings:
                    known = ", ".join(sorted(siblings)) or "none"
                    msg = (
                        f"{label} points at namespace {tool.from_.sourceNamespace!r}, which is "
                        f"no rest or mcp adapter of this capability (known: {known})"
                    )
                    errors.append(ctx.problem((*at, "from", "sourceNamespace"), msg))
                elif tool.instruction is not None and skill.location is None:
                    msg = f"{label} uses `instruction` but the skill has no `location`"
                    errors.append(ctx.problem((*at, "instruction"), msg))
