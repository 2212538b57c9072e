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


def test_a_lone_surrogate_is_refused_and_a_pair_is_read() -> None:
    assert safejson.loads('["\\ud83d\\ude00"]') == ["\U0001f600"]
    for text in ('{"a": "x\\ud800"}', '{"\\udfff": 1}', '["\\uDBFF"]'):
        with pytest.raises(InputError) as refused:
            safejson.loads(text, field="payload")
        assert refused.value.field == "payload"
        assert "half of a surrogate pair" in refused.value.message
    with pytest.raises(InputError):
        safejson.check({"a": ["\ud800"]}, "arguments")


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b"[Infinity]", b"[1e999]", b'["\\ud800"]', b"[" * 5000 + b"]" * 5000, b"\xff"],
)
def test_an_upstreams_json_that_no_caller_could_read_back_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        safejson.upstream(raw)


def test_an_upstreams_json_is_read_as_plain_values() -> None:
    assert safejson.upstream(b'{"a": [1, 2.5, "\\u00e9"], "b": null}') == {
        "a": [1, 2.5, "é"],
        "b": None,
    }
