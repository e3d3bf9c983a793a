"""A `leap-connect worker` killed in the middle of a batch loses nothing: another delivers it."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leap_connect.jobs.repository import JobStatus
from leap_connect.models import Job, WebhookDelivery
from leap_connect.runtime import Runtime
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


async def test_deliveries_whose_worker_is_killed_are_made_by_another_worker_after_the_lease(
    api: httpx.AsyncClient,
    receiver: Receiver,
    runtime: Runtime,
    partner: Partner,
    workers: Workers,
) -> None:
    endpoint = await create_endpoint(api, receiver)
    # The first worker's batch of three hangs until the worker dies.
    receiver.answer(*[Reply(200, delay=30)] * 3)
    event_ids = [await record_change(runtime, partner) for _ in range(3)]

    async def delivery_states() -> list[tuple[str, int]]:
        async with runtime.sessionmaker() as session:
            rows = await session.scalars(select(WebhookDelivery))
            return [(delivery.status, delivery.attempt_count) for delivery in rows]

    async def unfinished_jobs() -> list[str]:
        async with runtime.sessionmaker() as session:
            statement = select(Job.status).where(
                Job.kind == DELIVER_JOB, Job.status != JobStatus.DONE
            )
            return list(await session.scalars(statement))

    async def requests_arrived() -> bool:
        return len(receiver.received) == 3

    first = workers.start()
    # Generous waits: a worker process takes long to start on a busy test machine.
    await eventually(requests_arrived, "the first worker sends the batch", timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert await delivery_states() == [("PENDING", 0)] * 3
    assert await unfinished_jobs() == [JobStatus.RUNNING]

    second = workers.start()

    async def delivered() -> bool:
        return {status for status, _ in await delivery_states()} == {"SUCCEEDED"}

    await eventually(delivered, "the second worker delivers them", timeout=60)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0, workers.logs()

    # The receiver got each event again, with the same webhook-id to tell it is a repeat.
    assert Counter(item.headers["webhook-id"] for item in receiver.received) == dict.fromkeys(
        event_ids, 2
    )
    assert len(receiver.events) == 6
    log = await deliveries(api, endpoint["webhook_endpoint_id"])
    assert sorted(delivery["webhook_event_id"] for delivery in log) == sorted(event_ids)
    assert [[attempt["status_code"] for attempt in d["attempts"]] for d in log] == [[200]] * 3
    assert await unfinished_jobs() == []
