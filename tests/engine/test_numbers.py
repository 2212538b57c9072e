"""One reading of a number written as text, for inputs and outputs alike (issue 12)."""

from __future__ import annotations

import pytest

from naftiko.engine import outputs
from naftiko.engine.inputs import Input, coerce
from naftiko.errors import InputError


@pytest.mark.parametrize(("text", "number"), [("42", 42), ("1.5", 1.5), ("1e3", 1000), ("-0", 0)])
def test_inputs_and_outputs_read_a_number_alike(text: str, number: float) -> None:
    assert coerce(Input("n", type="number"), text) == number
    assert outputs.coerce("number", text) == number


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_a_non_finite_number_is_refused_as_input_and_unknown_as_output(text: str) -> None:
    with pytest.raises(InputError):
        coerce(Input("n", type="number"), text)
    assert outputs.coerce("number", text) is None


def test_text_that_is_no_number_is_refused_as_input_and_kept_as_output() -> None:
    with pytest.raises(InputError):
        coerce(Input("n", type="number"), "abc")
    assert outputs.coerce("number", "abc") == "abc"


@pytest.mark.parametrize("text", ["\u0661\u0662", "\u0967", "1_000", "\u0663.5"])
def test_digits_python_reads_but_no_api_writes_are_no_number(text: str) -> None:
    with pytest.raises(InputError):
        coerce(Input("n", type="integer"), text)
    assert outputs.coerce("number", text) == text


@pytest.mark.parametrize("text", [" 7", "7 ", "+5", "\t7", "07", ".5", "5.", "0x10", "1e", "--1"])
def test_an_input_number_must_be_written_as_json_writes_one(text: str) -> None:
    # JSON Schema's integer and number are JSON numbers: no sign but `-`, no padding, no
    # leading zero. Python's int() and float() would read these as 7, 5, 0.5 ...
    for kind in ("integer", "number"):
        with pytest.raises(InputError) as refused:
            coerce(Input("count", type=kind), text)
        assert refused.value.field == "count"


@pytest.mark.parametrize(("text", "number"), [("-5", -5), ("0", 0), ("-0", 0), ("12", 12)])
def test_an_input_integer_in_json_notation_is_read(text: str, number: int) -> None:
    assert coerce(Input("count", type="integer"), text) == number


def test_output_coercion_still_reads_a_padded_cell() -> None:
    # CSV cells carry spaces: outputs keep the lenient reading.
    assert outputs.coerce("number", " 7") == 7
