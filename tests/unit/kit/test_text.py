"""The one rule for text from outside; the database refusing text is not the database down."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from leap_connect.app import refused_text
from leap_connect.kit.problems import problem_response
from leap_connect.kit.text import RequestModel, displayable, text_problem


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800", "a\x1bb", "\x85"])
def test_nul_surrogates_and_controls_are_refused_in_any_text(value: str) -> None:
    assert text_problem(value, "The reference")


@pytest.mark.parametrize("value", ["cust-123", "line\nbreak\ttab", "Ünïcødé ✓", "a\u202eb"])
def test_ordinary_text_is_taken(value: str) -> None:
    assert text_problem(value) is None


@pytest.mark.parametrize("value", ["Ada \u202eecalevoL", "Ada\u200bLovelace", "Ada\nLovelace"])
def test_a_name_also_refuses_format_characters(value: str) -> None:
    assert text_problem(value, "Your name", name=True) == (
        "Your name cannot contain control or formatting characters."
    )


def test_a_name_keeps_the_joiners() -> None:
    assert text_problem("می\u200cخواهم \u200d", "Your name", name=True) is None


@given(st.text())
def test_displayable_text_always_encodes(value: str) -> None:
    displayable(value).encode("utf-8")


def test_a_problem_quoting_a_lone_surrogate_still_renders() -> None:
    response = problem_response(422, "Validation failed", "bad \ud800", errors=[{"\ud800": "x"}])
    assert b"\\ud800" in response.body


class Body(RequestModel):
    reference: str
    values: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    items: list[Item] = Field(default_factory=list)


class Item(RequestModel):
    name: str


Body.model_rebuild()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reference": "a\x00"}, ("reference",)),
        ({"reference": "a", "values": ["ok", "\ud800"]}, ("values",)),
        ({"reference": "a", "headers": {"X\x00": "v"}}, ("headers",)),
        ({"reference": "a", "headers": {"X": "v\x00"}}, ("headers",)),
        ({"reference": "a", "items": [{"name": "n\x00"}]}, ("items", 0, "name")),
    ],
)
def test_a_request_model_names_the_field_holding_bad_text(
    data: dict[str, object], field: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        Body.model_validate(data)
    assert [error["loc"] for error in raised.value.errors()] == [field]


def test_the_database_refusing_a_nul_is_not_an_outage() -> None:
    nul = asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00')
    assert refused_text(DBAPIError("SELECT 1", {}, nul))
    assert not refused_text(DBAPIError("SELECT 1", {}, Exception("deadlock detected")))
    assert not refused_text(OperationalError("SELECT 1", {}, ConnectionRefusedError()))
    assert not refused_text(ConnectionRefusedError())
