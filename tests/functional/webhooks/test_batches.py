"""Deliveries go out in batches per endpoint: a partner's slow server delays only its own, and an
event recorded while its endpoint's batch is in flight is delivered after it."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from leap_connect.jobs.worker import Worker, in_process_worker
from leap_connect.runtime import Runtime
from leap_connect.webhooks.events import record_event
from tests.functional.webhooks.conftest import (
    all_settled,
    create_endpoint,
    deliveries,
    eventually,
    record_change,
)
from tests.functional.webhooks.receiver import Receiver, Reply, running_receiver
from tests.support.factories import Partner


@pytest.fixture
async def patient_worker(runtime: Runtime) -> AsyncIterator[Worker]:
    """A worker as `leap-connect worker` runs by default (10 jobs at once, 10 s per request)."""
    settings = runtime.settings.model_copy(update={"webhook_timeout_seconds": 10})
    worker_runtime = replace(runtime, settings=settings)
    async with in_process_worker(
        worker_runtime, poll_interval=0.02, lease=timedelta(seconds=10), batch_size=10
    ) as running:
        yield running
    await worker_runtime.release()


async def test_a_hanging_endpoint_does_not_hold_up_another_endpoints_deliveries(
    api: httpx.AsyncClient,
    receiver: Receiver,
    patient_worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    hang = threading.Event()
    slow_endpoint = await create_endpoint(api, receiver, event_types=["meter.updated"])
    receiver.answer(Reply(200, until=hang))
    with running_receiver() as fast:
        fast_endpoint = await create_endpoint(api, fast, event_types=["meter.created"])
        try:
            slow_event = await record_change(runtime, partner, "meter.updated")
            await eventually(lambda: _received(receiver, 1), "the slow endpoint gets its request")
            fast_event = await record_change(runtime, partner, "meter.created")
            await eventually(lambda: _received(fast, 1), "the fast endpoint gets its request")

            [fast_delivery] = await _settled(api, fast_endpoint)
            assert fast_delivery["webhook_event_id"] == fast_event
            assert fast_delivery["status"] == "SUCCEEDED"
            # The slow endpoint's request is still waiting for its answer.
            [slow_delivery] = await deliveries(api, slow_endpoint["webhook_endpoint_id"])
            assert slow_delivery["status"] == "PENDING"
            assert slow_delivery["attempts"] == []
        finally:
            hang.set()
        await all_settled(runtime)

    [slow_delivery] = await deliveries(api, slow_endpoint["webhook_endpoint_id"])
    assert slow_delivery["webhook_event_id"] == slow_event
    assert slow_delivery["status"] == "SUCCEEDED"
    assert [attempt["status_code"] for attempt in slow_delivery["attempts"]] == [200]


async def test_an_event_recorded_while_its_endpoints_batch_is_in_flight_is_delivered_after_it(
    api: httpx.AsyncClient,
    receiver: Receiver,
    patient_worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    hang = threading.Event()
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(Reply(200, until=hang))
    first = await record_change(runtime, partner)
    try:
        await eventually(lambda: _received(receiver, 1), "the first event's request is sent")
        second = await record_change(runtime, partner)
    finally:
        hang.set()

    await all_settled(runtime)
    assert [event["webhook_event_id"] for event in receiver.events] == [first, second]
    log = await deliveries(api, endpoint["webhook_endpoint_id"])
    assert [delivery["webhook_event_id"] for delivery in log] == [second, first]
    assert {delivery["status"] for delivery in log} == {"SUCCEEDED"}
    assert [len(delivery["attempts"]) for delivery in log] == [1, 1]


async def test_a_backlog_to_one_endpoint_is_sent_in_batches_each_logged_once(
    api: httpx.AsyncClient,
    receiver: Receiver,
    patient_worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    endpoint = await create_endpoint(api, receiver)
    # Five of the first batch fail and are retried; the rest of the backlog goes on meanwhile.
    receiver.answer(*[Reply(200), Reply(500, b"busy")] * 5)
    async with runtime.sessionmaker() as session, session.begin():
        recorded = [
            str(
                (
                    await record_event(
                        session,
                        organization_id=partner.organization.id,
                        event_type="meter.updated",
                        payload={"meter": {"meter_id": f"meter-{number}"}},
                    )
                ).id
            )
            for number in range(120)
        ]

    await all_settled(runtime)
    log = await deliveries(api, endpoint["webhook_endpoint_id"])
    assert sorted(delivery["webhook_event_id"] for delivery in log) == sorted(recorded)
    assert {delivery["status"] for delivery in log} == {"SUCCEEDED"}
    codes = sorted(tuple(a["status_code"] for a in delivery["attempts"]) for delivery in log)
    assert codes == [(200,)] * 115 + [(500, 200)] * 5
    retried = [delivery["webhook_event_id"] for delivery in log if delivery["attempt_count"] == 2]
    received = sorted(event["webhook_event_id"] for event in receiver.events)
    assert received == sorted(recorded + retried)


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _settled(api: httpx.AsyncClient, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    async def done() -> bool:
        log = await deliveries(api, endpoint["webhook_endpoint_id"])
        return bool(log) and all(delivery["status"] != "PENDING" for delivery in log)

    await eventually(done, "the endpoint's deliveries are settled")
    return await deliveries(api, endpoint["webhook_endpoint_id"])
