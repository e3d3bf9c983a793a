"""A partner deleting webhook endpoints while customers' changes record events: nothing fails.

Recording an event fans it out to the organization's endpoints; on PostgreSQL a deletion that
committed between the fan-out's read of the endpoints and its insert of their deliveries broke
the customer's request with a foreign-key violation (and a deletion racing an insert broke the
DELETE the same way). The test runs on SQLite too, where writes take turns.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, WebhookDelivery, WebhookEndpoint, utc_now
from leap_connect.runtime import Runtime
from leap_connect.webhooks import service
from leap_connect.webhooks.events import record_event
from tests.conftest import TEST_DATABASE_URL
from tests.functional.webhooks.conftest import (
    all_settled,
    create_endpoint,
    deliveries,
    eventually,
    record_change,
)
from tests.functional.webhooks.receiver import PATH, Receiver, Reply
from tests.support.factories import Partner

ROUNDS = 12
CHURNED = 4  # endpoints the partner creates, then deletes at once, each round
RECORDERS = 3
EVENTS_EACH = 20


async def test_endpoints_deleted_while_events_are_recorded_lose_no_event_and_fail_no_request(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime, partner: Partner
) -> None:
    kept = await create_endpoint(api, receiver, event_types=["meter.updated"])
    churned_url = f"http://127.0.0.1:{receiver.port}/churned"  # answered 200, unsigned checks
    deletions: list[int] = []

    async def churn_endpoints() -> None:
        body = {"url": churned_url, "event_types": ["meter.updated"]}
        for _ in range(ROUNDS):
            created = [await api.post("/v2/webhooks", json=body) for _ in range(CHURNED)]
            assert [response.status_code for response in created] == [201] * CHURNED
            answers = await asyncio.gather(
                *(
                    api.delete(f"/v2/webhooks/{response.json()['webhook_endpoint_id']}")
                    for response in created
                )
            )
            deletions.extend(answer.status_code for answer in answers)

    async def record_changes(recorder: int) -> list[str]:
        return [
            await record_change(runtime, partner, meter={"meter_id": f"m-{recorder}-{number}"})
            for number in range(EVENTS_EACH)
        ]

    outcomes: list[Any] = await asyncio.gather(
        churn_endpoints(),
        *(record_changes(recorder) for recorder in range(RECORDERS)),
        return_exceptions=True,
    )

    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert errors == [], errors
    recorded = {event_id for event_ids in outcomes[1:] for event_id in event_ids}
    assert len(recorded) == RECORDERS * EVENTS_EACH
    assert deletions == [204] * (ROUNDS * CHURNED)
    listed = (await api.get("/v2/webhooks")).json()["webhook_endpoints"]
    assert [endpoint["webhook_endpoint_id"] for endpoint in listed] == [kept["webhook_endpoint_id"]]

    await all_settled(runtime)
    kept_log = await deliveries(api, kept["webhook_endpoint_id"])
    assert {delivery["webhook_event_id"] for delivery in kept_log} == recorded
    assert {delivery["status"] for delivery in kept_log} == {"SUCCEEDED"}
    to_kept = [item for item in receiver.received if item.path == PATH]
    assert all(item.verified is not None for item in to_kept)
    assert {item.headers["webhook-id"] for item in to_kept} == recorded

    await eventually(
        lambda: only_stored(runtime, kept["webhook_endpoint_id"]),
        "the deleted endpoints and their logs are removed",
    )


async def test_deleting_an_endpoint_while_a_delivery_to_it_is_in_flight_answers_at_once(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"
    answer = threading.Event()
    receiver.answer(Reply(200, until=answer))  # the partner's server takes its time
    assert (await api.post(f"{path}/test")).status_code == 202

    async def in_flight() -> bool:
        return len(receiver.received) == 1

    await eventually(in_flight, "the ping is being sent")
    try:
        # Not after the partner answers: the delivery's batch holds its rows until then.
        deleted = await asyncio.wait_for(api.delete(path), timeout=5)
    finally:
        answer.set()

    assert deleted.status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.get("/v2/webhooks")).json() == {"webhook_endpoints": []}
    await eventually(lambda: only_stored(runtime), "the endpoint and its log are removed")
    async with runtime.sessionmaker() as session:
        errors = list(
            await session.scalars(select(Job.last_error).where(Job.last_error.is_not(None)))
        )
    assert errors == []  # and no job failed on the way


async def only_stored(runtime: Runtime, *endpoint_ids: str) -> bool:
    """Whether the endpoints stored, and their delivery logs, are those of `endpoint_ids` only."""
    kept = [uuid.UUID(endpoint_id) for endpoint_id in endpoint_ids]
    async with runtime.sessionmaker() as session:
        endpoints = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
        elsewhere = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id.not_in(kept))
        )
    return endpoints == len(kept) and elsewhere == 0


async def test_an_endpoint_busy_with_new_events_holds_up_neither_its_job_nor_its_deletion(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime, partner: Partner
) -> None:
    """Under a steady stream of events some transaction always shares the endpoint. The delivery
    job used to wait for a moment when none did, which may never come, and a partner's DELETE
    queued behind that wait until its client gave up."""
    if not TEST_DATABASE_URL:
        pytest.skip("row locks: PostgreSQL only (SQLite's writes take turns)")
    endpoint = await create_endpoint(api, receiver, event_types=["meter.updated"])
    endpoint_id = uuid.UUID(endpoint["webhook_endpoint_id"])
    async with runtime.sessionmaker() as recording, recording.begin():
        await record_event(
            recording,
            organization_id=partner.organization.id,
            event_type="meter.updated",
            payload={"meter": {"meter_id": "m-busy"}},
        )  # not committed yet: the endpoint is shared by this transaction
        async with runtime.sessionmaker() as job, job.begin():
            before = utc_now()
            next_run = await asyncio.wait_for(service.next_run_at(job, endpoint_id), timeout=5)
        assert next_run is not None and next_run - before <= timedelta(seconds=2)
        # The deletion waits only for this event's own job row, not for a queue of lockers.
        deletion = asyncio.create_task(api.delete(f"/v2/webhooks/{endpoint_id}"))
        await asyncio.sleep(0.2)
    deleted = await asyncio.wait_for(deletion, timeout=5)
    assert deleted.status_code == 204
    # The event committed with a delivery for the endpoint: the endpoint and its log still go.
    await eventually(lambda: only_stored(runtime), "the endpoint and its log are removed")
