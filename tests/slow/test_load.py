"""Many customers at once against one `serve` on PostgreSQL: no errors, everything accounted for.

LEAP_CONNECT_SLOW_LOAD_CUSTOMERS customers (default 200, the issue's figure) run at once, each
completing journeys one after another for LEAP_CONNECT_SLOW_LOAD_SECONDS (default 60).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import WebhookDelivery, WebhookEvent
from leap_connect.webhooks.events import EVENT_TYPES
from tests.slow.conftest import assert_consistent, env_int, stored
from tests.slow.customers import Customers, assert_accounted_for
from tests.support.journeys import seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server

pytestmark = pytest.mark.slow

CUSTOMERS = env_int("LEAP_CONNECT_SLOW_LOAD_CUSTOMERS", 200)
SECONDS = env_int("LEAP_CONNECT_SLOW_LOAD_SECONDS", 60)


async def session_events(database_url: str) -> Counter[tuple[str, str]]:
    """(session id, event type) of every recorded event that names a connect session."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            found: Counter[tuple[str, str]] = Counter()
            for event in await session.scalars(select(WebhookEvent)):
                body = event.payload
                inner = body.get("connect_session") or {}
                session_id = body.get("connect_session_id") or inner.get("connect_session_id")
                if session_id:
                    found[(str(session_id), event.event_type)] += 1
            deliveries = await session.scalar(select(func.count()).select_from(WebhookDelivery))
            events = await session.scalar(select(func.count()).select_from(WebhookEvent))
            # One delivery waits for each event: the one endpoint wants them all.
            assert deliveries == events
            return found
    finally:
        await engine.dispose()


async def test_concurrent_customers_complete_journeys_and_everything_is_accounted_for(
    pg_url: str, tmp_path: Path
) -> None:
    token = await seed(pg_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        sandbox_process(tmp_path, base) as sandbox,
        leap_connect_server(
            pg_url, tmp_path, {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": base}, port=port
        ),
    ):
        # A subscribed endpoint, so every change is recorded as an event (no worker delivers it).
        async with httpx.AsyncClient(base_url=base, timeout=10) as api:
            response = await api.post(
                "/v2/webhooks",
                json={"url": "http://127.0.0.1:9/hook", "event_types": list(EVENT_TYPES)},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
        customers = Customers(base, sandbox)
        started = time.monotonic()
        await customers.run(CUSTOMERS, lambda: time.monotonic() < started + SECONDS)
        elapsed = time.monotonic() - started

    print(f"\n{CUSTOMERS} customers for {SECONDS} s: {customers.summary(elapsed)}")
    assert customers.failures == []
    assert [r.ref_id for r in customers.journeys if not r.completed] == []
    done = customers.completed
    sessions, attempts, meters, references = await stored(pg_url)
    assert sorted(s.partner_reference or "" for s in sessions) == sorted(done)
    assert {s.status for s in sessions} == {"COMPLETED"}
    assert Counter(a.status for a in attempts) == Counter({"COMPLETED": len(done)})
    # One meter per customer who finished a journey, under exactly that customer's refIds.
    customers_done = {ref_id.split("-")[0] for ref_id in done}
    assert len(meters) == len(customers_done)
    assert sorted(ref for refs in references.values() for ref in refs) == sorted(done)
    assert_consistent(sessions, attempts, meters, references)
    assert_accounted_for(customers, sessions, attempts, meters, references)
    events = await session_events(pg_url)
    for session in sessions:
        # Each customer's journey was reported: its authorization and its session's changes.
        assert events[(str(session.id), "connect_session.authorization_updated")] >= 1
        assert events[(str(session.id), "connect_session.updated")] >= 1, session.id
