"""Counting opened links in memory: per flow and UTC day, and nothing lost when saving fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from leap_connect.connect.link_opens import LinkOpenCounter
from leap_connect.connect.repository import FlowDay
from leap_connect.models import ConnectFlow


def flow() -> ConnectFlow:
    return ConnectFlow(id=uuid.uuid4(), organization_id=uuid.uuid4(), url_friendly_title="f")


def test_opens_are_added_up_per_flow_and_utc_day() -> None:
    now = datetime(2026, 11, 28, 23, 59, tzinfo=UTC)
    counter = LinkOpenCounter(clock=lambda: now)
    first, second = flow(), flow()

    counter.record(first)
    counter.record(first)
    counter.record(second)
    now = datetime(2026, 11, 29, 0, 1, tzinfo=UTC)
    counter.record(first)

    assert counter.take() == {
        FlowDay(first.organization_id, first.id, now.date().replace(day=28)): 2,
        FlowDay(second.organization_id, second.id, now.date().replace(day=28)): 1,
        FlowDay(first.organization_id, first.id, now.date()): 1,
    }
    assert counter.take() == {}


def test_counts_that_could_not_be_saved_are_put_back_and_added_to() -> None:
    counter = LinkOpenCounter()
    opened = flow()
    counter.record(opened)
    taken = counter.take()

    counter.record(opened)
    counter.put_back(taken)

    assert counter.pending == 2
    assert list(counter.take().values()) == [2]
