"""Many customers at once against one `serve` on PostgreSQL: no errors, everything accounted for.

LEAP_CONNECT_SLOW_LOAD_CUSTOMERS (default 50) customers run at once; each completes journeys until
LEAP_CONNECT_SLOW_LOAD_SECONDS (default 0: one journey each) have passed. The issue's figure is
200 customers for 60 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import WebhookDelivery, WebhookEvent
from leap_connect.webhooks.events import EVENT_TYPES
from tests.functional.test_external_utility import pge_variables, sandbox_process
from tests.slow.conftest import assert_consistent, env_int, journey, seed, stored
from tests.support.server import free_port, leap_connect_server

pytestmark = pytest.mark.slow

CUSTOMERS = env_int("LEAP_CONNECT_SLOW_LOAD_CUSTOMERS", 50)
SECONDS = env_int("LEAP_CONNECT_SLOW_LOAD_SECONDS", 0)


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
    responses: Counter[int] = Counter()
    errors: list[str] = []
    done: list[str] = []

    async def record(response: httpx.Response) -> None:
        if str(response.url).startswith(base):
            responses[response.status_code] += 1
            if response.status_code >= 400:
                errors.append(f"{response.status_code} {response.request.method} {response.url}")

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
        end = time.monotonic() + SECONDS

        async def customer(number: int) -> None:
            round_ = 0
            while round_ == 0 or time.monotonic() < end:
                round_ += 1
                ref_id = f"load-{number}-{round_}"
                async with httpx.AsyncClient(
                    base_url=base, timeout=60, event_hooks={"response": [record]}
                ) as client:
                    await journey(client, sandbox, ref_id)
                done.append(ref_id)

        started = time.monotonic()
        await asyncio.gather(*(customer(n) for n in range(CUSTOMERS)))
        elapsed = time.monotonic() - started

    print(f"{len(done)} journeys by {CUSTOMERS} customers in {elapsed:.1f} s: {dict(responses)}")
    assert errors == []
    sessions, attempts, meters, references = await stored(pg_url)
    assert sorted(s.partner_reference or "" for s in sessions) == sorted(done)
    assert {s.status for s in sessions} == {"COMPLETED"}
    assert Counter(a.status for a in attempts) == Counter({"COMPLETED": len(done)})
    assert len(meters) == 1 and references[meters[0].id] == set(done)
    assert_consistent(sessions, attempts, meters, references)
    events = await session_events(pg_url)
    for session in sessions:
        # Each customer's journey was reported: its authorization and its session's changes.
        assert events[(str(session.id), "connect_session.authorization_updated")] >= 1
        assert events[(str(session.id), "connect_session.updated")] >= 1, session.id
