"""`Settings` refuses a bad value itself, whoever builds it (the CLI, a test, an embedder)."""

from __future__ import annotations

import pytest

from naftiko.engine.options import Timeouts
from naftiko.settings import Settings


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"log_level": "loud"}, "--log-level"),
        ({"log_format": "xml"}, "--log-format"),
        ({"max_body": 0}, "max_body"),
        ({"timeouts": Timeouts(connect=0)}, "timeouts"),
        ({"drain_seconds": -1}, "drain_seconds"),
        ({"max_connections": 0}, "max_connections"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(changes: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings(**changes)  # type: ignore[arg-type]


def test_the_defaults_are_valid() -> None:
    assert Settings().log_level == "info"
