"""Recording who opened a flow's links, per visitor and UTC day, without a write per landing page.

A landing GET only notes the visitor in memory (the page stays as cheap as a cache hit); every
server saves what it noted every couple of seconds, and when it shuts down, as rows of `link_opens`
(INSERT ... ON CONFLICT DO NOTHING), so every server's portal sees the same opens within seconds.

A visitor is a keyed hash of the client's address, its user agent and the UTC day: no address is
stored, nobody can be followed from one day to the next, and an e-mail scanner that opens a
campaign's links a thousand times is one visitor of the flow that day.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from typing import NamedTuple

import structlog

from leap_connect.connect import repository
from leap_connect.connect.repository import NotedOpen
from leap_connect.connect.service import browser_binding
from leap_connect.db import transaction
from leap_connect.kit.crypto import keyed_hash
from leap_connect.models import ConnectFlow, utc_now
from leap_connect.runtime import Runtime

log = structlog.get_logger("leap_connect.connect")

SAVE_LINK_OPENS_EVERY = timedelta(seconds=2)
# Visitors saved today that need no second write; past this many, the set starts again (a repeat
# write is harmless, only wasted).
REMEMBERED_VISITORS = 100_000
# Opens waiting for the database; while it is down for long, newer ones are dropped rather than
# letting a flood of visitors grow the process without bound.
MAX_PENDING = 100_000


class OpenKey(NamedTuple):
    flow_id: uuid.UUID
    day: date
    visitor: str


class LinkOpenRecorder:
    """Link opens noted since they were last saved, each visitor once per flow and day."""

    def __init__(self, secret_key: str, clock: Callable[[], datetime] = utc_now) -> None:
        self._secret_key = secret_key
        self._clock = clock
        self._pending: dict[OpenKey, NotedOpen] = {}
        self._saved: set[OpenKey] = set()
        self._saved_day: date | None = None

    def visitor(self, day: date, client_address: str, user_agent: str) -> str:
        return keyed_hash(
            self._secret_key, f"link-open:{day.isoformat()}:{client_address}:{user_agent}"
        )

    def record(
        self, flow: ConnectFlow, *, client_address: str, user_agent: str, browser_id: str
    ) -> None:
        now = self._clock()
        day = now.date()
        key = OpenKey(flow.id, day, self.visitor(day, client_address, user_agent))
        if key in self._pending or key in self._saved or len(self._pending) >= MAX_PENDING:
            return
        self._pending[key] = NotedOpen(
            organization_id=flow.organization_id,
            flow_id=flow.id,
            day=day,
            visitor=key.visitor,
            browser_binding_hmac=browser_binding(self._secret_key, browser_id),
            opened_at=now,
        )

    def take(self) -> list[NotedOpen]:
        pending, self._pending = self._pending, {}
        return list(pending.values())

    def saved(self, opens: list[NotedOpen]) -> None:
        today = self._clock().date()
        if self._saved_day != today or len(self._saved) > REMEMBERED_VISITORS:
            self._saved, self._saved_day = set(), today
        self._saved.update(OpenKey(o.flow_id, o.day, o.visitor) for o in opens if o.day == today)

    def put_back(self, opens: list[NotedOpen]) -> None:
        for link_open in opens:
            key = OpenKey(link_open.flow_id, link_open.day, link_open.visitor)
            self._pending.setdefault(key, link_open)

    @property
    def pending(self) -> int:
        return len(self._pending)


def link_open_recorder(runtime: Runtime) -> LinkOpenRecorder:
    return runtime.keep(LinkOpenRecorder, lambda: LinkOpenRecorder(runtime.secret_key))


def count_link_open(
    runtime: Runtime,
    flow: ConnectFlow,
    *,
    client_address: str,
    user_agent: str,
    browser_id: str,
) -> None:
    """Note that this visitor opened the flow's link; `save_link_opens` stores it."""
    link_open_recorder(runtime).record(
        flow, client_address=client_address, user_agent=user_agent, browser_id=browser_id
    )


async def save_link_opens(runtime: Runtime) -> int:
    """Store the opens this process noted; returns how many it stored."""
    recorder = link_open_recorder(runtime)
    opens = recorder.take()
    if not opens:
        return 0
    try:
        async with transaction(runtime.sessionmaker) as session:
            await repository.add_link_opens(session, opens)
    except BaseException:
        # Not saved (database down, or cancelled): keep them for the next try.
        recorder.put_back(opens)
        raise
    recorder.saved(opens)
    return len(opens)


@contextlib.asynccontextmanager
async def saving_link_opens(
    runtime: Runtime, every: timedelta = SAVE_LINK_OPENS_EVERY
) -> AsyncIterator[None]:
    """While open, save link opens every couple of seconds; on closing, once more (the lifespan)."""
    stop = asyncio.Event()
    saver = asyncio.create_task(_save_until(runtime, stop, every))
    try:
        yield
    finally:
        stop.set()
        await saver
        try:
            await save_link_opens(runtime)
        except Exception:
            log.exception("link_opens_not_saved", pending=link_open_recorder(runtime).pending)


async def _save_until(runtime: Runtime, stop: asyncio.Event, every: timedelta) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())
        if stop.is_set():
            return
        try:
            await save_link_opens(runtime)
        except Exception:
            log.warning("link_opens_not_saved_yet", exc_info=True)
