"""Refusals before any port opens: unbound credential variables, unsupported features."""

from __future__ import annotations

from naftiko.engine.plan import PORT, SCHEME, USERINFO, Plan
from naftiko.errors import BindingError, Location, SpecError
from naftiko.expressions import Var, parse_template


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


def check_startup(plan: Plan) -> None:
    """Refuse to start when a credential variable is unbound or a feature is unsupported."""
    for name, where in required_variables(plan):
        raise BindingError(
            f"variable {name} is not set (bind it in `binds` or the environment)", where
        )
    _check_origins(plan)
    for i, c in enumerate(plan.capability.body.consumes):
        auth = c.authentication
        if auth is not None and auth.type not in (
            "basic",
            "digest",
            "bearer",
            "apikey",
            "oauth2",
        ):
            loc = plan.capability.locate(("capability", "consumes", i, "authentication", "type"))
            raise SpecError.single(loc, f"authentication type {auth.type!r} is not supported")


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
