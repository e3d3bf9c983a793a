"""A cell a spreadsheet would run as a formula is written as text; every other cell as it is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.kit.spreadsheet_cells import FORMULA_STARTS, formula_safe


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("https://evil.example","Click")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_cells_that_start_like_a_formula_get_an_apostrophe(value: str) -> None:
    assert formula_safe(value) == "'" + value


@given(st.text())
def test_other_cells_are_unchanged_and_formula_cells_only_gain_one_apostrophe(value: str) -> None:
    safe = formula_safe(value)
    if value.startswith(FORMULA_STARTS):
        assert safe == "'" + value
    else:
        assert safe == value
    assert not safe.startswith(FORMULA_STARTS)
