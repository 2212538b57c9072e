"""Refusals before any port opens: unbound credential variables, unsupported features."""

from __future__ import annotations

from naftiko.engine.binary_formats import BINARY_FORMATS, SchemaProblem, check_schema
from naftiko.engine.formats import check_selector
from naftiko.engine.plan import PORT, SCHEME, USERINFO, Plan
from naftiko.errors import BindingError, Location, MappingError, SpecError
from naftiko.expressions import Var, parse_template
from naftiko.model import OAuth2Auth


def required_variables(plan: Plan) -> list[tuple[str, Location]]:
    """Variables in upstream credentials and base URIs that nothing at startup can supply."""
    missing = []
    cap = plan.capability
    for i, c in enumerate(cap.body.consumes):
        at: tuple[str | int, ...] = ("capability", "consumes", i)
        texts: list[tuple[str, tuple[str | int, ...]]] = [(c.baseUri, (*at, "baseUri"))]
        if c.authentication is not None:
            for key, value in c.authentication.model_dump(exclude_none=True).items():
                if isinstance(value, str):
                    texts.append((value, (*at, "authentication", key)))
        for text, where in texts:
            for var in parse_template(text).variables:
                if plan.bindings.lookup(var.name) is None and var.name not in plan.bindings.environ:
                    missing.append((var.name, cap.locate(where)))
    return missing


def _advice(plan: Plan, name: str) -> str:
    """What would actually set `name`: the message must be true for the way it is read."""
    bindings = plan.bindings
    head, dot, rest = name.partition(".")
    if (
        dot
        and head == "env"
        and (head not in bindings.by_namespace or head in bindings.from_environment)
    ):
        return f"set {rest} in the environment"
    if dot and head in bindings.by_namespace:
        return f"add {rest} to the keys of bind {head!r}"
    return "bind it in `binds`, or set it in the environment"


def check_startup(plan: Plan) -> None:
    """Refuse to start when a credential variable is unbound or a feature is unsupported."""
    for name, where in required_variables(plan):
        raise BindingError(f"variable {name} is not set ({_advice(plan, name)})", where)
    _check_origins(plan)
    for i, c in enumerate(plan.capability.body.consumes):
        auth = c.authentication
        if auth is not None and auth.type not in (
            "basic",
            "digest",
            "bearer",
            "apikey",
            "oauth2",
            "aws-sig-v4",
        ):
            loc = plan.capability.locate(("capability", "consumes", i, "authentication", "type"))
            raise SpecError.single(loc, f"authentication type {auth.type!r} is not supported")
        if isinstance(auth, OAuth2Auth) and not (
            (auth.tokenEndpoint or auth.authorizationServerUri) and auth.clientId
        ):
            # Upstream OAuth2 is the client-credentials grant: without an endpoint and a client
            # every call would fail before reaching the API.
            loc = plan.capability.locate(("capability", "consumes", i, "authentication"))
            raise SpecError.single(
                loc, "oauth2 upstream credentials need tokenEndpoint and clientId"
            )
    _check_formats(plan)


def _check_formats(plan: Plan) -> None:
    """avro/protobuf schemas and html selectors: usable before the first call, not after an
    upstream request was already sent."""
    for i, c in enumerate(plan.capability.body.consumes):
        for r, resource in enumerate(c.resources):
            for o, op in enumerate(resource.operations):
                fmt = op.outputRawFormat.lower()
                operation = plan.operations.get(f"{c.namespace}.{op.name}")
                at = ("capability", "consumes", i, "resources", r, "operations", o)
                try:
                    if fmt in BINARY_FORMATS:
                        check_schema(fmt, operation.output_schema if operation else None)
                    elif fmt == "html" and op.outputSchema:
                        check_selector(op.outputSchema)
                except (SchemaProblem, MappingError) as exc:
                    key = "outputSchema" if op.outputSchema else "outputRawFormat"
                    raise SpecError.single(plan.capability.locate((*at, key)), str(exc)) from None


def _check_origins(plan: Plan) -> None:
    """A base URI's scheme, userinfo and port come from configuration only: a variable
    there that no bind or environment variable supplies would let a caller pick them."""
    index = {c.namespace: i for i, c in enumerate(plan.capability.body.consumes)}
    for op in plan.operations.values():
        for part, where in op.url_segments:
            if not isinstance(part, Var) or where not in (SCHEME, USERINFO, PORT):
                continue
            if plan.bindings.lookup(part.name) is None and part.name not in plan.bindings.environ:
                at = ("capability", "consumes", index.get(op.namespace, 0), "baseUri")
                raise SpecError.single(
                    plan.capability.locate(at),
                    f"variable {part.name} stands in the URL's {where}, which only "
                    "configuration may set: bind it in `binds` or the environment",
                )
