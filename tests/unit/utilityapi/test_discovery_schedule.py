"""When Connect asks UtilityAPI again for meters it has not listed yet."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from leap_connect.meters.discovery import (
    DISCOVERY_DEADLINE,
    FIRST_WAIT,
    LONGEST_WAIT,
    next_discovery_wait,
)


def looks_until_giving_up() -> list[timedelta]:
    """When each look happens, from the first (at once) until the schedule gives up."""
    looks = [timedelta(0)]
    while (wait := next_discovery_wait(looks[-1])) is not None:
        looks.append(looks[-1] + wait)
    return looks


def test_looks_thin_out_from_seconds_to_every_quarter_hour() -> None:
    looks = looks_until_giving_up()

    assert looks[:6] == [timedelta(seconds=s) for s in (0, 5, 10, 20, 40, 80)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(looks)]
    assert max(gaps) == LONGEST_WAIT
    assert gaps.count(LONGEST_WAIT) > 80  # most of the day is spent asking every 15 minutes


def test_the_last_look_is_at_24_hours_and_then_discovery_gives_up() -> None:
    looks = looks_until_giving_up()

    assert looks[-1] == DISCOVERY_DEADLINE
    assert len(looks) < 120
    assert next_discovery_wait(DISCOVERY_DEADLINE) is None
    assert next_discovery_wait(DISCOVERY_DEADLINE + timedelta(days=3)) is None


@given(st.integers(min_value=0, max_value=int(DISCOVERY_DEADLINE.total_seconds()) - 1))
def test_every_wait_is_between_the_first_and_the_longest_and_ends_by_the_deadline(
    waited_seconds: int,
) -> None:
    waited = timedelta(seconds=waited_seconds)

    wait = next_discovery_wait(waited)

    assert wait is not None
    assert timedelta(0) < wait <= LONGEST_WAIT
    assert wait >= FIRST_WAIT or waited + wait == DISCOVERY_DEADLINE
    assert waited + wait <= DISCOVERY_DEADLINE
