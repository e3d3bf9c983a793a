"""A `leap-connect worker` killed in the middle of a delivery loses nothing: another delivers."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leap_connect.jobs.repository import JobStatus
from leap_connect.kit.deps import AppContext
from leap_connect.models import Job, WebhookDelivery
from leap_connect.webhooks.events import DELIVER_JOB
from tests.functional.jobs.test_worker_process import Workers
from tests.functional.webhooks.conftest import (
    FAST_RETRIES,
    create_endpoint,
    deliveries,
    eventually,
    record_change,
)
from tests.functional.webhooks.receiver import Receiver, Reply
from tests.support.factories import Partner


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(database_url, tmp_path)
    started.env.update(
        {
            "LEAP_CONNECT_WEBHOOK_RETRY_DELAYS_SECONDS": json.dumps(FAST_RETRIES),
            # Longer than the receiver's hang: the first worker is still waiting when killed.
            "LEAP_CONNECT_WEBHOOK_TIMEOUT_SECONDS": "60",
        }
    )
    yield started
    started.stop_all()


async def test_a_delivery_whose_worker_is_killed_is_made_by_another_worker_after_the_lease(
    api: httpx.AsyncClient,
    receiver: Receiver,
    app_context: AppContext,
    partner: Partner,
    workers: Workers,
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(Reply(200, delay=30))  # the first request hangs until the worker dies
    event_id = await record_change(app_context, partner)

    async def delivery_state() -> tuple[str, int, str]:
        async with app_context.sessionmaker() as session:
            delivery = (await session.scalars(select(WebhookDelivery))).one()
            job = (await session.scalars(select(Job).where(Job.kind == DELIVER_JOB))).one()
        return delivery.status, delivery.attempt_count, job.status

    async def request_arrived() -> bool:
        return len(receiver.received) == 1

    first = workers.start()
    await eventually(request_arrived, "the first worker sends the webhook")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert await delivery_state() == ("PENDING", 0, JobStatus.RUNNING)

    second = workers.start()

    async def delivered() -> bool:
        return (await delivery_state())[0] == "SUCCEEDED"

    await eventually(delivered, "the second worker delivers it")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0, workers.logs()

    # The receiver got the event again, with the same webhook-id to tell it is a repeat.
    assert [item.headers["webhook-id"] for item in receiver.received] == [event_id, event_id]
    assert [event["webhook_event_id"] for event in receiver.events] == [event_id, event_id]
    [delivery] = await deliveries(api, endpoint["webhook_endpoint_id"])
    assert delivery["status"] == "SUCCEEDED"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [200]
