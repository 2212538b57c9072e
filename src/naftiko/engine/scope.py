"""The evaluation context of one request: configuration first, then the caller's data.

The order is the trust boundary (SECURITY.md): a name that `binds` or the environment
defines always means that configuration value; a caller's input (or a step's output) of the
same name can never shadow it, so no request can redirect an upstream or rewrite a bound
header or credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from naftiko.expressions import Var, norm
from naftiko.spec.bindings import Bindings


class Scope:
    """Resolves `{{name}}`, `{{a.b}}` and `{{bind-ns.VAR}}` for one request."""

    __slots__ = ("bindings", "params")

    def __init__(self, params: Mapping[str, Any], bindings: Bindings) -> None:
        self.params = params
        self.bindings = bindings

    def get(self, var: Var) -> Any:
        found, value = self.find(var.name)
        return value if found else None

    def find(self, name: str) -> tuple[bool, Any]:
        configured = self.configured(name)
        if configured is not None:
            return True, configured
        return self.find_param(name)

    def configured(self, name: str) -> str | None:
        """The value configuration gives `name` (a bind, else the environment), if any."""
        bound = self.bindings.lookup(name)
        if bound is not None:
            return bound
        return self.bindings.environ.get(name)

    def find_param(self, name: str) -> tuple[bool, Any]:
        """A value the request carries: a validated input, a `with` value or a step output."""
        params = self.params
        if name in params:
            return True, params[name]
        if "." in name:
            # Literal key first, then a nested walk (`{{get-ship.imo_number}}`), as Mustache does.
            head, *rest = name.split(".")
            if head in params:
                current = params[head]
                for part in rest:
                    if isinstance(current, Mapping) and part in current:
                        current = current[part]
                    else:
                        current = None
                        break
                if current is not None:
                    return True, current
        wanted = norm(name)
        for key, value in params.items():
            if norm(key) == wanted:
                return True, value
        return False, None
