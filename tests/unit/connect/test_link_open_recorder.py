"""Noting link opens in memory: each visitor once per flow and UTC day, none lost on failure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from leap_connect.connect import link_opens
from leap_connect.connect.link_opens import LinkOpenRecorder
from leap_connect.models import ConnectFlow

SECRET = "a secret key for these tests"


def flow() -> ConnectFlow:
    return ConnectFlow(id=uuid.uuid4(), organization_id=uuid.uuid4(), url_friendly_title="f")


def test_a_visitor_is_noted_once_per_flow_and_utc_day() -> None:
    now = datetime(2026, 11, 28, 23, 59, tzinfo=UTC)
    recorder = LinkOpenRecorder(SECRET, clock=lambda: now)
    first, second = flow(), flow()

    for _ in range(3):
        recorder.record(first, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")
    recorder.record(first, client_address="192.0.2.1", user_agent="Firefox", browser_id="b2")
    recorder.record(second, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")
    now = datetime(2026, 11, 29, 0, 1, tzinfo=UTC)
    recorder.record(first, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")

    opens = recorder.take()
    assert [(o.flow_id, o.day.day) for o in opens] == [
        (first.id, 28),
        (first.id, 28),
        (second.id, 28),
        (first.id, 29),
    ]
    assert recorder.take() == []
    # The same visitor on the next day cannot be told to be the same one.
    assert opens[0].visitor == opens[2].visitor != opens[3].visitor


def test_nothing_personal_is_kept() -> None:
    recorder = LinkOpenRecorder(SECRET, clock=lambda: datetime(2026, 11, 28, tzinfo=UTC))
    recorder.record(
        flow(), client_address="192.0.2.77", user_agent="Safari/17", browser_id="cookie"
    )

    [link_open] = recorder.take()

    stored = f"{link_open.visitor} {link_open.browser_binding_hmac}"
    assert "192.0.2.77" not in stored and "Safari" not in stored and "cookie" not in stored
    assert len(link_open.visitor) == 64


def test_a_visitor_saved_today_is_not_written_again() -> None:
    recorder = LinkOpenRecorder(SECRET, clock=lambda: datetime(2026, 11, 28, tzinfo=UTC))
    opened = flow()
    recorder.record(opened, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")
    recorder.saved(recorder.take())

    recorder.record(opened, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")

    assert recorder.pending == 0


def test_opens_that_could_not_be_saved_are_put_back() -> None:
    recorder = LinkOpenRecorder(SECRET, clock=lambda: datetime(2026, 11, 28, tzinfo=UTC))
    opened = flow()
    recorder.record(opened, client_address="192.0.2.1", user_agent="Safari", browser_id="b1")
    taken = recorder.take()

    recorder.record(opened, client_address="192.0.2.2", user_agent="Safari", browser_id="b2")
    recorder.put_back(taken)
    recorder.put_back(taken)

    assert recorder.pending == 2


def test_while_the_database_is_away_the_opens_waiting_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(link_opens, "MAX_PENDING", 3)
    recorder = LinkOpenRecorder(SECRET, clock=lambda: datetime(2026, 11, 28, tzinfo=UTC))

    for number in range(10):
        recorder.record(
            flow(), client_address=f"192.0.2.{number}", user_agent="Safari", browser_id="b"
        )

    assert recorder.pending == 3
