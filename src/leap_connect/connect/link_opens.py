"""Counting opened links without a write per landing page.

Landing-page GETs never write to the database (e-mail link scanners open links before people do),
so each server process adds up the pages it shows in memory, per flow and UTC day, and saves the
sums about once a minute and when it shuts down. A process that crashes loses at most the last
minute's count; the portal says so next to the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import structlog

from leap_connect.connect import repository
from leap_connect.connect.repository import FlowDay
from leap_connect.db import transaction
from leap_connect.models import ConnectFlow, utc_now
from leap_connect.runtime import Runtime

log = structlog.get_logger("leap_connect.connect")

SAVE_LINK_OPENS_EVERY = timedelta(minutes=1)


class LinkOpenCounter:
    """Landing pages shown per flow and UTC day since the counts were last saved."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._counts: Counter[FlowDay] = Counter()

    def record(self, flow: ConnectFlow) -> None:
        self._counts[FlowDay(flow.organization_id, flow.id, self._clock().date())] += 1

    def take(self) -> Counter[FlowDay]:
        counts, self._counts = self._counts, Counter()
        return counts

    def put_back(self, counts: Counter[FlowDay]) -> None:
        self._counts.update(counts)

    @property
    def pending(self) -> int:
        return sum(self._counts.values())


def link_open_counter(runtime: Runtime) -> LinkOpenCounter:
    return runtime.keep(LinkOpenCounter, LinkOpenCounter)


def count_link_open(runtime: Runtime, flow: ConnectFlow) -> None:
    """Count one landing page shown, in memory; `save_link_opens` writes the sums later."""
    link_open_counter(runtime).record(flow)


async def save_link_opens(runtime: Runtime) -> int:
    """Add what this process counted to the stored counts; returns how many opens it saved."""
    counter = link_open_counter(runtime)
    counts = counter.take()
    if not counts:
        return 0
    try:
        async with transaction(runtime.sessionmaker) as session:
            await repository.add_link_opens(session, counts)
    except BaseException:
        # Not saved (database down, or cancelled): keep the counts for the next try.
        counter.put_back(counts)
        raise
    return sum(counts.values())


@contextlib.asynccontextmanager
async def saving_link_opens(runtime: Runtime) -> AsyncIterator[None]:
    """While open, save link opens every minute; on closing, once more (the app's lifespan)."""
    stop = asyncio.Event()
    saver = asyncio.create_task(_save_until(runtime, stop))
    try:
        yield
    finally:
        stop.set()
        await saver
        try:
            await save_link_opens(runtime)
        except Exception:
            log.exception("link_opens_not_saved", pending=link_open_counter(runtime).pending)


async def _save_until(runtime: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SAVE_LINK_OPENS_EVERY.total_seconds())
        if stop.is_set():
            return
        try:
            await save_link_opens(runtime)
        except Exception:
            log.warning("link_opens_not_saved_yet", exc_info=True)
