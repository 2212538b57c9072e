"""naftiko: a Python runtime for Naftiko capability specs (1.0.0-alpha2).

The public API is small and pinned by a test: load a spec, and the error types.
"""

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
from naftiko.spec.loader import SPEC_VERSION, load
from naftiko.version import __version__

load_spec = load

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
