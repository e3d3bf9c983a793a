"""When a failed delivery is tried again: the real schedule, and how it is walked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.settings import Settings
from leap_connect.webhooks.delivery import retry_delay


def test_the_default_schedule_is_at_once_then_5s_5min_30min_2h_5h_10h_10h() -> None:
    delays = Settings().webhook_retry_delays_seconds

    waits = [retry_delay(retry, delays) for retry in range(len(delays) + 1)]

    assert waits == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        None,  # the eighth attempt failed too: the delivery has failed
    ]
    # The last attempt comes about 27.6 hours after the first.
    assert sum(delays, 0.0) == 27 * 3600 + 35 * 60 + 5


def test_the_schedule_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAP_CONNECT_WEBHOOK_RETRY_DELAYS_SECONDS", "[0.1, 1]")

    assert Settings().webhook_retry_delays_seconds == (0.1, 1.0)


@given(st.lists(st.floats(min_value=-10, max_value=1e6), max_size=10), st.integers(0, 20))
def test_a_retry_waits_the_scheduled_delay_never_less_than_nothing(
    delays: list[float], retry: int
) -> None:
    wait = retry_delay(retry, delays)

    if retry >= len(delays):
        assert wait is None
    else:
        assert wait == timedelta(seconds=max(delays[retry], 0.0))
