"""Page tokens round-trip; a changed token, another organization or other filters are refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.kit.pagination import (
    BadPageToken,
    Position,
    decode_page_token,
    encode_page_token,
    page_of,
    search_fingerprint,
)

SECRET = "instance-secret"
ORG = uuid.UUID(int=1)
OTHER_ORG = uuid.UUID(int=2)
FINGERPRINT = search_fingerprint({"utility_ids": ["pge"]})

positions = st.builds(
    Position,
    created_at=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(8999, 1, 1), timezones=st.just(UTC)
    ),
    id=st.uuids(),
)


def token_for(position: Position, organization_id: uuid.UUID = ORG) -> str:
    return encode_page_token(
        SECRET,
        kind="meters",
        organization_id=organization_id,
        fingerprint=FINGERPRINT,
        position=position,
    )


def decode(
    token: str,
    *,
    secret: str = SECRET,
    kind: str = "meters",
    organization_id: uuid.UUID = ORG,
    fingerprint: str = FINGERPRINT,
) -> Position:
    return decode_page_token(
        token, secret, kind=kind, organization_id=organization_id, fingerprint=fingerprint
    )


@given(positions)
def test_a_token_gives_back_the_exact_position(position: Position) -> None:
    assert decode(token_for(position)) == position


@given(positions, st.data())
def test_any_changed_character_makes_the_token_invalid(
    position: Position, data: st.DataObject
) -> None:
    token = token_for(position)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[index]))
    with pytest.raises(BadPageToken):
        decode(token[:index] + replacement + token[index + 1 :])


def test_a_token_is_bound_to_its_organization_its_search_and_its_kind() -> None:
    token = token_for(Position(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4()))
    with pytest.raises(BadPageToken):
        decode(token, organization_id=OTHER_ORG)
    with pytest.raises(BadPageToken):
        decode(token, fingerprint=search_fingerprint({"utility_ids": ["sce"]}))
    with pytest.raises(BadPageToken):
        decode(token, kind="connect_sessions")
    with pytest.raises(BadPageToken):
        decode(token, secret="another-instance")


@pytest.mark.parametrize("token", ["", ".", "abc", "a.b", "é.é", "x" * 2000])
def test_garbage_is_a_bad_page_token(token: str) -> None:
    with pytest.raises(BadPageToken):
        decode(token)


def test_a_page_has_a_next_position_only_when_more_rows_were_found() -> None:
    rows = [Position(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=n)) for n in range(5)]
    assert page_of(rows[:3], 3, lambda row: row).next_position is None
    more = page_of(rows[:4], 3, lambda row: row)
    assert more.items == rows[:3] and more.next_position == rows[2]


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert search_fingerprint({"a": 1, "b": [2]}) == search_fingerprint({"b": [2], "a": 1})
    assert search_fingerprint({"a": 1}) != search_fingerprint({"a": 2})
