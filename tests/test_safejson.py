"""The one reader of caller JSON: RFC 8259 numbers only, bounded nesting, exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

import naftiko.safejson as safejson
from naftiko.errors import InputError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("[1e999]", "1e999 is too large for a JSON number"),
        ("[" * 129 + "]" * 129, "JSON nested deeper than 128 levels"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 128 levels"),
    ],
)
def test_hostile_json_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(InputError) as refused:
        safejson.loads(text, field="payload")
    assert (refused.value.field, refused.value.message) == ("payload", message)


def test_nesting_up_to_the_limit_is_read() -> None:
    assert safejson.loads("[" * 128 + "]" * 128) is not None


def test_a_decimal_no_double_holds_is_written_back_as_read() -> None:
    value = safejson.loads('{"big": 12345678901234567890.123, "tiny": 1e-400, "plain": 0.1}')
    assert value == {
        "big": Decimal("12345678901234567890.123"),
        "tiny": Decimal("1e-400"),
        "plain": 0.1,
    }
    assert (
        safejson.dumps(value) == '{"big": 12345678901234567890.123, "tiny": 1E-400, "plain": 0.1}'
    )


def test_text_that_is_not_strict_json_stays_text() -> None:
    assert safejson.text_or_json("[1, 2]") == [1, 2]
    assert safejson.text_or_json("[NaN]") == "[NaN]"
    assert safejson.text_or_json("hello") == "hello"


def test_values_from_another_parser_are_checked_the_same_way() -> None:
    with pytest.raises(InputError) as refused:
        safejson.check({"a": [float("inf")]}, "body")
    assert refused.value.message == "a number must be finite (no NaN, Infinity or overflow)"
