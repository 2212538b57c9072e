"""The evaluation context of one request: parameters first, then binds, then the environment."""

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
        bound = self.bindings.lookup(name)
        if bound is not None:
            return True, bound
        if name in self.bindings.environ:
            return True, self.bindings.environ[name]
        return False, None
