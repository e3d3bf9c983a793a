"""The typed signature: consent, a real name, and title and company for businesses."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.esign.service import SignatureFormInvalid, read_signature_form

BUSINESS = {
    "consent": "yes",
    "signer_name": "Grace Hopper",
    "signer_title": "Operations director",
    "company_name": "Hopper Foods",
}


def test_a_business_signature_has_a_name_title_and_company() -> None:
    details = read_signature_form(BUSINESS, commercial=True)

    assert (details.signer_name, details.signer_title, details.company_name) == (
        "Grace Hopper",
        "Operations director",
        "Hopper Foods",
    )


def test_a_home_signature_needs_only_a_name_and_ignores_title_and_company() -> None:
    details = read_signature_form(BUSINESS, commercial=False)

    assert (details.signer_name, details.signer_title, details.company_name) == (
        "Grace Hopper",
        None,
        None,
    )


def test_spaces_and_line_breaks_in_a_name_collapse_to_single_spaces() -> None:
    details = read_signature_form(
        {**BUSINESS, "signer_name": "  Grace \n\t Brewster   Hopper "}, commercial=False
    )

    assert details.signer_name == "Grace Brewster Hopper"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SignatureFormInvalid) as refused:
        read_signature_form({"consent": "on", "signer_name": ""}, commercial=True)

    assert set(refused.value.errors) == {"consent", "signer_name", "signer_title", "company_name"}


@pytest.mark.parametrize(
    "name",
    ["x" * 201, "Grace\x00Hopper", "Grace\u202eeppoH", "Grace\u2066Hopper", "Grace\x1b[31m"],
)
def test_a_name_that_is_too_long_or_hides_characters_is_refused(name: str) -> None:
    with pytest.raises(SignatureFormInvalid) as refused:
        read_signature_form({**BUSINESS, "signer_name": name}, commercial=False)

    assert list(refused.value.errors) == ["signer_name"]


def test_joiners_that_some_scripts_need_are_allowed() -> None:
    name = "\u0915\u094d\u200d\u0937"  # Devanagari with a zero-width joiner

    assert read_signature_form({**BUSINESS, "signer_name": name}, commercial=False).signer_name


@given(st.text(min_size=1, max_size=300))
def test_an_accepted_name_is_at_most_200_visible_characters(name: str) -> None:
    try:
        details = read_signature_form({**BUSINESS, "signer_name": name}, commercial=False)
    except SignatureFormInvalid:
        return
    assert 0 < len(details.signer_name) <= 200
    assert details.signer_name == details.signer_name.strip()
    assert all(
        unicodedata.category(c)[0] != "C" or c in "\u200c\u200d" for c in details.signer_name
    )
