"""Two workers sharing a backlog of deliveries send each one exactly once when nothing fails.

On PostgreSQL (the production setup) with 1,000 deliveries, 250 events to each of four endpoints,
so both workers send batches at the same time; SQLite runs a smaller backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import httpx
from sqlalchemy import func, select

import leap_connect.webhooks.tasks  # noqa: F401 - registers the delivery handler
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, WebhookDelivery, WebhookDeliveryAttempt
from leap_connect.runtime import Runtime, build_runtime
from leap_connect.webhooks.events import DELIVER_JOB, record_event
from tests.conftest import TEST_DATABASE_URL
from tests.functional.webhooks.conftest import create_endpoint, eventually
from tests.functional.webhooks.receiver import Receiver, running_receiver
from tests.support.factories import Partner

DELIVERIES = 1000 if TEST_DATABASE_URL else 200
ENDPOINTS = 4
EVENTS = DELIVERIES // ENDPOINTS


async def test_two_workers_deliver_every_pending_delivery_exactly_once(
    api: httpx.AsyncClient,
    runtime: Runtime,
    partner: Partner,
    database_url: str,
) -> None:
    with contextlib.ExitStack() as stack:
        receivers = [stack.enter_context(running_receiver()) for _ in range(ENDPOINTS)]
        for receiver in receivers:
            await create_endpoint(api, receiver, event_types=["meter.updated"])
        async with runtime.sessionmaker() as session, session.begin():
            for number in range(EVENTS):
                await record_event(
                    session,
                    organization_id=partner.organization.id,
                    event_type="meter.updated",
                    payload={"meter": {"meter_id": f"meter-{number}"}},
                )
        await run_two_workers_until(receivers, runtime, database_url)

    for receiver in receivers:
        received = Counter(item.headers["webhook-id"] for item in receiver.received)
        assert len(received) == EVENTS
        assert set(received.values()) == {1}
        assert len(receiver.events) == EVENTS  # every one verified
        meter_ids = {event["payload"]["meter"]["meter_id"] for event in receiver.events}
        assert meter_ids == {f"meter-{number}" for number in range(EVENTS)}

    async with runtime.sessionmaker() as session:
        outcomes = dict(
            (
                await session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                )
            ).all()
        )
        attempt_counts = set(await session.scalars(select(WebhookDelivery.attempt_count)))
        attempts_logged = await session.scalar(select(func.count(WebhookDeliveryAttempt.id)))
        unfinished_jobs = await session.scalar(
            select(func.count(Job.id)).where(
                Job.kind == DELIVER_JOB, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
            )
        )
    assert outcomes == {"SUCCEEDED": DELIVERIES}
    assert attempt_counts == {1}
    assert attempts_logged == DELIVERIES
    assert unfinished_jobs == 0


async def run_two_workers_until(
    receivers: list[Receiver], runtime: Runtime, database_url: str
) -> None:
    """Two workers, a runtime each as two processes would have, until every delivery arrived."""
    # The production time limit: on a busy test machine 2 s can pass before a request is answered,
    # and a timed-out delivery is (rightly) sent again.
    settings = runtime.settings.model_copy(update={"webhook_timeout_seconds": 10})
    runtimes = [build_runtime(settings) for _ in range(2)]
    workers = [
        Worker(
            worker_runtime,
            worker_id=f"worker-{name}",
            lease=timedelta(seconds=30),
            poll_interval=0.02,
            batch_size=4,
        )
        for worker_runtime, name in zip(runtimes, "ab", strict=True)
    ]
    stop = asyncio.Event()
    running = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:

        async def all_received() -> bool:
            return all(len(receiver.received) >= EVENTS for receiver in receivers)

        await eventually(all_received, f"{EVENTS} deliveries arrive at each", timeout=180)
        await asyncio.sleep(0.3)  # room for a second delivery of any of them to show up
    finally:
        stop.set()
        await asyncio.gather(*running)
        for worker_runtime in runtimes:
            await worker_runtime.close()
