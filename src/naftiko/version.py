"""The package version, importable from every layer."""

__version__ = "0.1.0"
# The spec version this runtime reads (spec/loader.py checks it).
SPEC_VERSION = "1.0.0-alpha2"
