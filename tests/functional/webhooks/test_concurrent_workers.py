"""Two workers sharing a backlog of deliveries send each one exactly once when nothing fails.

On PostgreSQL (the production setup) with 1,000 deliveries; SQLite runs a smaller backlog.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

import leap_connect.webhooks.tasks  # noqa: F401 - registers the delivery handler
from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.jobs.worker import Worker
from leap_connect.kit.deps import AppContext
from leap_connect.models import Job, WebhookDelivery
from leap_connect.webhooks.events import DELIVER_JOB, record_event
from leap_connect.webhooks.tasks import CLIENT_EXTRA
from tests.conftest import TEST_DATABASE_URL
from tests.functional.webhooks.conftest import create_endpoint, eventually
from tests.functional.webhooks.receiver import Receiver
from tests.support.factories import Partner

DELIVERIES = 1000 if TEST_DATABASE_URL else 200


async def test_two_workers_deliver_every_pending_delivery_exactly_once(
    api: httpx.AsyncClient,
    receiver: Receiver,
    app_context: AppContext,
    partner: Partner,
    database_url: str,
) -> None:
    await create_endpoint(api, receiver, event_types=["meter.updated"])
    async with app_context.sessionmaker() as session, session.begin():
        for number in range(DELIVERIES):
            await record_event(
                session,
                organization_id=partner.organization.id,
                event_type="meter.updated",
                payload={"meter": {"meter_id": f"meter-{number}"}},
            )

    # An engine each, as two processes would have: their claims race in the database.
    engines = [create_engine(database_url) for _ in range(2)]
    extras: list[dict[str, Any]] = [{}, {}]
    workers = [
        Worker(
            create_sessionmaker(engine),
            app_context.settings,
            worker_id=f"worker-{name}",
            lease=timedelta(seconds=30),
            poll_interval=0.02,
            batch_size=25,
            extras=worker_extras,
        )
        for engine, name, worker_extras in zip(engines, "ab", extras, strict=True)
    ]
    stop = asyncio.Event()
    running = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:

        async def all_received() -> bool:
            return len(receiver.received) >= DELIVERIES

        await eventually(all_received, f"{DELIVERIES} deliveries arrive", timeout=120)
        await asyncio.sleep(0.3)  # room for a second delivery of any of them to show up
    finally:
        stop.set()
        await asyncio.gather(*running)
        for worker_extras in extras:
            if CLIENT_EXTRA in worker_extras:
                await worker_extras[CLIENT_EXTRA].aclose()
        for engine in engines:
            await engine.dispose()

    received = Counter(item.headers["webhook-id"] for item in receiver.received)
    assert len(received) == DELIVERIES
    assert set(received.values()) == {1}
    assert len(receiver.events) == DELIVERIES  # every one verified
    meter_ids = {event["payload"]["meter"]["meter_id"] for event in receiver.events}
    assert meter_ids == {f"meter-{number}" for number in range(DELIVERIES)}

    async with app_context.sessionmaker() as session:
        outcomes = dict(
            (
                await session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                )
            ).all()
        )
        attempt_counts = set(await session.scalars(select(WebhookDelivery.attempt_count)))
        by_worker = dict(
            (
                await session.execute(
                    select(Job.locked_by, func.count())
                    .where(Job.kind == DELIVER_JOB)
                    .group_by(Job.locked_by)
                )
            ).all()
        )
    assert outcomes == {"SUCCEEDED": DELIVERIES}
    assert attempt_counts == {1}
    assert set(by_worker) == {"worker-a", "worker-b"}
    assert sum(by_worker.values()) == DELIVERIES
