"""naftiko: a Python runtime for Naftiko capability specs (1.0.0-alpha2).

The public API is small and pinned by a test: load a spec, and the error types.
"""

from __future__ import annotations

from naftiko.version import SPEC_VERSION, __version__

# Not `typing.TYPE_CHECKING`: importing typing is a cost `naftiko --version` need not pay
# (mypy treats any `TYPE_CHECKING` name as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from naftiko.errors import (
        BindingError,
        InputError,
        Location,
        MappingError,
        NaftikoError,
        Problem,
        SpecError,
        UpstreamError,
        UpstreamTimeout,
        UpstreamUnavailable,
    )
    from naftiko.model import Capability
    from naftiko.spec.loader import load

    load_spec = load

# Every name is imported on first use (PEP 562): `import naftiko.x` runs this file first, and
# the model and loader alone import pydantic (~0.2 s); `naftiko --version` needs none of them.
# A public name not listed here is an error type of `naftiko.errors`.
_LAZY = {
    "Capability": ("naftiko.model", "Capability"),
    "load": ("naftiko.spec.loader", "load"),
    "load_spec": ("naftiko.spec.loader", "load"),
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'naftiko' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY.get(name, ("naftiko.errors", name))
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


__all__ = [
    "SPEC_VERSION",
    "BindingError",
    "Capability",
    "InputError",
    "Location",
    "MappingError",
    "NaftikoError",
    "Problem",
    "SpecError",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "__version__",
    "load",
    "load_spec",
]
