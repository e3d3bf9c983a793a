"""A cell a spreadsheet would run as a formula is written as text; every other cell as it is."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.kit.spreadsheet_cells import FORMULA_STARTS, csv_line, formula_safe


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


@given(st.lists(st.one_of(st.none(), st.text()), max_size=6))
def test_a_csv_line_reads_back_as_its_formula_safe_cells(cells: list[str | None]) -> None:
    line = csv_line(cells)

    [read] = list(csv.reader(io.StringIO(line, newline="")))
    expected = [formula_safe(cell or "") for cell in cells]
    assert read == expected or (expected == [] and read == [])
    assert line.endswith("\r\n")
