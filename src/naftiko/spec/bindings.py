"""`binds` → values, read once at startup from the environment, a .env file or secrets files.

The result is the lowest layer of every template context (SEMANTICS §1.4 [R]): `{{VAR}}` and
`{{bind-namespace.VAR}}`. Every value read here is a secret and is registered for redaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naftiko.errors import BindingError, SpecError
from naftiko.model import Binding, Capability
from naftiko.spec.files import read_text, resolve_location
from naftiko.spec.source import parse


@dataclass(frozen=True)
class Bindings:
    """Bound variables: by bind namespace, flat by variable name, and the environment."""

    by_namespace: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    flat: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # Bind namespaces read from the environment (no `location`).
    from_environment: frozenset[str] = frozenset()

    @property
    def secrets(self) -> frozenset[str]:
        # Short values would redact ordinary words; they are too weak to be credentials anyway.
        return frozenset(v for v in self.flat.values() if len(v) >= 4)

    def lookup(self, name: str) -> str | None:
        """`VAR`, `ns.VAR`, or `env.VAR` (the process environment when no bind is named env)."""
        if name in self.flat:
            return self.flat[name]
        head, dot, rest = name.partition(".")
        if dot and head in self.by_namespace and rest in self.by_namespace[head]:
            return self.by_namespace[head][rest]
        if (
            dot
            and head == "env"
            and (head not in self.by_namespace or head in self.from_environment)
        ):
            # `{{env.X}}` is the environment's X, also beside an environment-read `env` bind.
            return self.environ.get(rest)
        return None


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file: `KEY=value` lines, `#` comments, optional `export ` and quotes."""
    try:
        text = read_text(path)
    except OSError as exc:
        raise BindingError(f"cannot read env file {path}: {exc.strerror}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, eq, value = line.partition("=")
        if not eq or not key.strip():
            raise BindingError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def resolve(capability: Capability, environ: Mapping[str, str]) -> Bindings:
    """Read every bind; a missing value stops startup with the variable and the spec line."""
    by_namespace: dict[str, dict[str, str]] = {}
    flat: dict[str, str] = {}
    binds: list[tuple[tuple[str | int, ...], Binding]] = [
        (("binds", i), b) for i, b in enumerate(capability.binds)
    ]
    if capability.capability is not None:
        binds += [(("capability", "binds", i), b) for i, b in enumerate(capability.body.binds)]
    for at, bind in binds:
        source = _source(bind.location, capability, at) if bind.location else environ
        values = by_namespace.setdefault(bind.namespace, {})
        for var, key in bind.keys.items():
            if key not in source or source[key] is None:
                where = "the environment" if not bind.location else f"{bind.location}"
                raise BindingError(
                    f"variable {var} needs {key!r} from {where}, which is not set",
                    capability.locate((*at, "keys", var)),
                )
            values[var] = _text(source[key])
            flat[var] = values[var]
    from_environment = frozenset(b.namespace for _, b in binds if not b.location)
    return Bindings(by_namespace, flat, dict(environ), from_environment)


def _source(location: str, capability: Capability, at: tuple[str | int, ...]) -> dict[str, Any]:
    path = resolve_location(location, capability.path.parent)
    where = capability.locate((*at, "location"))
    try:
        text = read_text(path)
    except OSError as exc:
        reason = exc.strerror or "unreadable"
        raise BindingError(f"bind file {location} ({path}): {reason}", where) from None
    except UnicodeDecodeError:
        raise BindingError(f"bind file {location} is not UTF-8 text", where) from None
    try:
        data = _parse(text, path)
    except SpecError as exc:
        # Only the place: the file holds secrets, and a parser's message may quote them.
        at_line = exc.problems[0].location
        msg = (
            f"bind file {location} is not valid YAML (line {at_line.line}, column {at_line.column})"
        )
        raise BindingError(msg, where) from None
    except (ValueError, RecursionError):
        raise BindingError(f"bind file {location} is not valid YAML/JSON", where) from None
    if not isinstance(data, dict):
        raise BindingError(f"bind file {location} must hold a mapping", where)
    return data


def _parse(text: str, path: Path) -> Any:
    """YAML through the spec reader (bounded depth and alias expansion); JSON by json.loads,
    whose RecursionError on deep nesting the caller reports."""
    if path.suffix in (".yaml", ".yml", ""):
        return parse(text, str(path)).data
    return json.loads(text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
