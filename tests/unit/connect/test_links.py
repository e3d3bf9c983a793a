"""The "Link parameters" contract: `requestedUtilities` and `refId` as pure rules."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from leap_connect.connect.links import (
    LinkError,
    build_link,
    parse_link,
    parse_ref_id,
    parse_requested_utilities,
)
from leap_connect.utilities.registry import UTILITY_IDS

CAISO = ("pge", "sce", "sdge")
SUPPORTED = (
    "Supported utility IDs: pge, sce, sdge, cecony-utilityapi, oru-utilityapi, psegli-utilityapi."
)

printable_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
valid_ref_ids = st.text(alphabet=printable_ascii, min_size=1, max_size=255)


# --- requestedUtilities ---------------------------------------------------------------------------


def test_requested_utilities_may_be_comma_separated() -> None:
    assert parse_requested_utilities(["pge,sce"], offered=CAISO) == ("pge", "sce")


def test_requested_utilities_may_be_a_repeated_parameter() -> None:
    assert parse_requested_utilities(["pge", "sdge"], offered=CAISO) == ("pge", "sdge")


def test_requested_utilities_mix_repeated_and_comma_separated_values() -> None:
    assert parse_requested_utilities(["pge,sce", "sdge"], offered=CAISO) == CAISO


def test_requested_utilities_are_trimmed_and_case_insensitive() -> None:
    assert parse_requested_utilities([" PGE , Sce\t", "  sdGE"], offered=CAISO) == CAISO


def test_duplicate_requested_utilities_are_dropped_keeping_the_first_order() -> None:
    assert parse_requested_utilities(["sce,pge,SCE", " pge "], offered=CAISO) == ("sce", "pge")


@pytest.mark.parametrize("values", [[], [""], [" "], [",,"], [" , ", ""]], ids=repr)
def test_empty_or_absent_requested_utilities_mean_every_offered_utility(
    values: list[str],
) -> None:
    assert parse_requested_utilities(values, offered=CAISO) == CAISO


def test_an_unknown_utility_id_is_refused_naming_it_and_listing_the_supported_ids() -> None:
    with pytest.raises(LinkError) as raised:
        parse_requested_utilities(["pge,xyz"], offered=CAISO)

    assert raised.value.field == "requestedUtilities"
    assert str(raised.value) == f'Unknown utility ID "xyz". {SUPPORTED}'


def test_several_unknown_utility_ids_are_all_named() -> None:
    with pytest.raises(LinkError) as raised:
        parse_requested_utilities(["xyz, coned"], offered=CAISO)

    assert str(raised.value) == f'Unknown utility IDs "xyz", "coned". {SUPPORTED}'


def test_a_utility_the_flow_does_not_offer_is_refused_saying_so() -> None:
    with pytest.raises(LinkError) as raised:
        parse_requested_utilities(["pge,cecony-utilityapi"], offered=("pge", "sce"))

    assert raised.value.field == "requestedUtilities"
    assert str(raised.value) == (
        'This link asks for "cecony-utilityapi", which this flow does not offer. '
        "It offers: pge, sce."
    )


# --- refId ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""], ids=repr)
def test_an_absent_or_empty_ref_id_means_no_reference(value: str | None) -> None:
    assert parse_ref_id(value) is None


@pytest.mark.parametrize(
    "value",
    ["a", "cust-123", "cust 42/7", "50% off & more = #1 + ~", " ", "x" * 255],
    ids=["1 char", "plain", "space and slash", "punctuation", "one space", "255 chars"],
)
def test_a_ref_id_of_1_to_255_printable_ascii_characters_is_kept_as_given(value: str) -> None:
    assert parse_ref_id(value) == value


def test_ref_id_of_256_characters_is_refused_with_its_length() -> None:
    with pytest.raises(LinkError) as raised:
        parse_ref_id("x" * 256)

    assert raised.value.field == "refId"
    assert str(raised.value) == "refId is 256 characters long; the limit is 255."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ab\ncd",
            "refId may contain only printable ASCII characters; "
            "character 3 is a control character (U+000A).",
        ),
        (
            "\tcust",
            "refId may contain only printable ASCII characters; "
            "character 1 is a control character (U+0009).",
        ),
        (
            "cust\x7f",
            "refId may contain only printable ASCII characters; "
            "character 5 is a control character (U+007F).",
        ),
        (
            "cust\x00",
            "refId may contain only printable ASCII characters; "
            "character 5 is a control character (U+0000).",
        ),
        (
            "Zoë-7",
            "refId may contain only printable ASCII characters; "
            'character 3 is "ë" (U+00EB), which is not ASCII.',
        ),
        (
            "cust\u00a042",
            "refId may contain only printable ASCII characters; "
            'character 5 is "\u00a0" (U+00A0), which is not ASCII.',
        ),
    ],
    ids=["newline", "tab", "DEL", "NUL", "accented letter", "no-break space"],
)
def test_control_and_non_ascii_characters_in_a_ref_id_are_refused_naming_the_position(
    value: str, message: str
) -> None:
    with pytest.raises(LinkError) as raised:
        parse_ref_id(value)

    assert raised.value.field == "refId"
    assert str(raised.value) == message


def test_a_ref_id_given_twice_is_refused() -> None:
    with pytest.raises(LinkError) as raised:
        parse_link([], ["a", "b"], offered=CAISO)

    assert raised.value.field == "refId"
    assert str(raised.value) == "refId is given more than once; a link carries one Reference ID."


def test_parse_link_reads_both_parameters() -> None:
    link = parse_link(["SCE"], ["cust-1"], offered=CAISO)

    assert link.requested_utilities == ("sce",)
    assert link.ref_id == "cust-1"


# --- building links -------------------------------------------------------------------------------


def test_a_link_without_parameters_is_just_the_flow_url() -> None:
    assert build_link("https://connect.example/", "acme", "ca-homes") == (
        "https://connect.example/acme/ca-homes"
    )


def test_a_link_lists_requested_utilities_comma_separated_and_percent_encodes_the_ref_id() -> None:
    url = build_link(
        "https://connect.example",
        "acme",
        "ca-homes",
        requested_utilities=("pge", "sce"),
        ref_id="cust 42/7",
    )

    assert (
        url
        == "https://connect.example/acme/ca-homes?requestedUtilities=pge,sce&refId=cust%2042%2F7"
    )


# --- properties -----------------------------------------------------------------------------------


@given(
    ref_id=valid_ref_ids,
    requested=st.lists(st.sampled_from(CAISO), unique=True),
)
@example(ref_id="%", requested=[])
@example(ref_id="&refId=evil", requested=["pge"])
@example(ref_id="a+b c", requested=[])
@example(ref_id="#fragment", requested=[])
@example(ref_id="/../admin?x=1", requested=[])
@example(ref_id="==", requested=[])
@example(ref_id="%20%2F", requested=[])
@example(ref_id="   ", requested=[])
@example(ref_id="x" * 255, requested=list(CAISO))
def test_every_valid_ref_id_survives_a_round_trip_through_the_link(
    ref_id: str, requested: list[str]
) -> None:
    url = build_link(
        "https://connect.example", "acme", "ca-homes", requested_utilities=requested, ref_id=ref_id
    )
    parts = urlsplit(url)
    assert parts.path == "/acme/ca-homes"
    assert parts.fragment == ""

    # As the landing page reads it (Starlette) ...
    params = QueryParams(parts.query)
    parsed = parse_link(
        params.getlist("requestedUtilities"), params.getlist("refId"), offered=CAISO
    )
    assert parsed.ref_id == ref_id
    assert parsed.requested_utilities == (tuple(requested) or CAISO)

    # ... and as any other client would.
    assert parse_qs(parts.query, keep_blank_values=True)["refId"] == [ref_id]


any_offered = st.lists(st.sampled_from(UTILITY_IDS) | st.text(max_size=20), max_size=8)


@given(values=st.lists(st.text()), offered=any_offered)
@example(values=["PGE, ,sce,xyz"], offered=list(CAISO))
@example(values=["\x00", "İ"], offered=[])
def test_parsing_requested_utilities_only_ever_fails_with_a_link_error(
    values: list[str], offered: list[str]
) -> None:
    try:
        result = parse_requested_utilities(values, offered=offered)
    except LinkError as error:
        assert error.message
        assert error.field == "requestedUtilities"
    else:
        assert set(result) <= set(offered)


@given(value=st.none() | st.text())
@example(value="x" * 10_000)
@example(value="\ud7ff\ue000\U0010ffff")
def test_parsing_a_ref_id_only_ever_fails_with_a_link_error(value: str | None) -> None:
    try:
        result = parse_ref_id(value)
    except LinkError as error:
        assert error.message
        assert error.field == "refId"
    else:
        assert result == (value or None)


@given(
    requested=st.lists(st.text()),
    ref_ids=st.lists(st.text(), max_size=3),
    offered=any_offered,
)
def test_parsing_a_link_only_ever_fails_with_a_link_error(
    requested: list[str], ref_ids: list[str], offered: list[str]
) -> None:
    try:
        parse_link(requested, ref_ids, offered=offered)
    except LinkError as error:
        assert error.message
