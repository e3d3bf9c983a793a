"""A partner reference follows the refId rule: 1–255 printable ASCII characters, kept as given."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.meters.references import InvalidReference, check_partner_reference

PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@given(st.text(PRINTABLE_ASCII, min_size=1, max_size=255))
def test_every_printable_ascii_reference_up_to_255_is_kept_exactly(value: str) -> None:
    assert check_partner_reference(value) == value


@given(
    st.text(PRINTABLE_ASCII, max_size=100),
    st.characters().filter(lambda c: not " " <= c <= "~"),
    st.text(PRINTABLE_ASCII, max_size=100),
)
def test_any_other_character_is_refused_with_its_position(
    before: str, bad: str, after: str
) -> None:
    with pytest.raises(InvalidReference, match=f"character {len(before) + 1} is"):
        check_partner_reference(before + bad + after)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "partner_reference is empty"),
        ("x" * 256, "partner_reference is 256 characters long; the limit is 255."),
    ],
)
def test_empty_and_too_long_references_are_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        check_partner_reference(value)
