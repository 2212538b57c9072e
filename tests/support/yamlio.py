"""YAML for the tests' own files, through libyaml (PyYAML's C binding).

The tests write and re-read a few hundred spec copies; PyYAML's pure-Python emitter and
scanner spent ~8 s of the suite's CPU on them. Same YAML, same defaults as `yaml.safe_*`."""

from __future__ import annotations

from typing import Any

import yaml


def dump_yaml(data: Any, **options: Any) -> str:
    """`yaml.safe_dump(data, **options)`, in C."""
    text: str = yaml.dump(data, Dumper=yaml.CSafeDumper, **options)
    return text


def load_yaml(text: str | bytes) -> Any:
    """`yaml.safe_load(text)`, in C."""
    return yaml.load(text, Loader=yaml.CSafeLoader)
