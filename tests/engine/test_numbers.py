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
