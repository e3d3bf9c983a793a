"""Delivery as a partner's receiver and delivery log see it: retries, failures, limits, signing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from leap_connect.jobs.worker import Worker
from leap_connect.models import WebhookEndpoint, utc_now
from leap_connect.runtime import Runtime
from leap_connect.webhooks.delivery import MAX_RESPONSE_BYTES
from tests.functional.webhooks.conftest import (
    FAST_RETRIES,
    all_settled,
    create_endpoint,
    deliveries,
    eventually,
    record_change,
)
from tests.functional.webhooks.receiver import PATH, Receiver, Reply, free_socket
from tests.support.factories import Partner


async def ping(api: httpx.AsyncClient, endpoint: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/v2/webhooks/{endpoint['webhook_endpoint_id']}/test")
    assert response.status_code == 202, response.text
    delivery: dict[str, Any] = response.json()
    return delivery


async def only_delivery(api: httpx.AsyncClient, endpoint: dict[str, Any]) -> dict[str, Any]:
    [delivery] = await deliveries(api, endpoint["webhook_endpoint_id"])
    return delivery


async def test_ping_reaches_the_receiver_signed_with_the_documented_body(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver, headers={"X-Partner-Key": "k-123"})
    queued = await ping(api, endpoint)
    assert queued["status"] == "PENDING"
    assert queued["webhook_event_type"] == "ping"

    await all_settled(runtime)
    [received] = receiver.received
    assert received.path == PATH
    assert received.verified is not None
    created_at = received.verified["created_at"]
    assert created_at.endswith("Z") and created_at <= queued["created_at"].replace("+00:00", "Z")
    assert received.verified == {
        "webhook_event_id": queued["webhook_event_id"],
        "created_at": created_at,
        "payload": {
            "webhook_event_type": "ping",
            "webhook_endpoint_id": endpoint["webhook_endpoint_id"],
        },
    }
    assert received.headers["webhook-id"] == queued["webhook_event_id"]
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-partner-key"] == "k-123"
    delivery = await only_delivery(api, endpoint)
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["delivered_at"] is not None
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0


async def test_receiver_failing_three_times_gets_a_fourth_attempt_that_succeeds(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(*[Reply(500, b"database is down")] * 3)
    await ping(api, endpoint)

    await all_settled(runtime)
    delivery = await only_delivery(api, endpoint)
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attempt_count"] == 4
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500: database is down"] * 3 + [None]
    # The same event each time: one webhook-id, which a receiver uses to drop repeats.
    assert len({item.headers["webhook-id"] for item in receiver.received}) == 1
    assert len(receiver.events) == 4


async def test_delivery_fails_for_good_once_the_retry_schedule_is_used_up(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(*[Reply(503)] * 20)
    await ping(api, endpoint)

    await all_settled(runtime)
    delivery = await only_delivery(api, endpoint)
    assert delivery["status"] == "FAILED"
    # The first attempt at once, then one per wait in the schedule.
    assert delivery["attempt_count"] == 1 + len(FAST_RETRIES) == 8
    assert len(delivery["attempts"]) == 8
    assert delivery["next_attempt_at"] is None
    response = await api.get(f"/v2/webhooks/{endpoint['webhook_endpoint_id']}")
    assert response.json()["failing_since"] is not None


async def test_a_redirect_is_a_failure_and_is_not_followed(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    elsewhere = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.answer(Reply(302, headers={"Location": elsewhere}), Reply(200))
    await ping(api, endpoint)

    await all_settled(runtime)
    delivery = await only_delivery(api, endpoint)
    first, second = delivery["attempts"]
    assert first["status_code"] == 302
    assert first["error"] == f"HTTP 302 (redirects are not followed; Location: {elsewhere})"
    assert second["status_code"] == 200
    assert [item.path for item in receiver.received] == [PATH, PATH]


async def test_an_answer_slower_than_the_time_limit_is_a_failure(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(Reply(200, delay=3))  # the tests' limit is 2 s
    await ping(api, endpoint)

    await all_settled(runtime)
    delivery = await only_delivery(api, endpoint)
    slow, retried = delivery["attempts"]
    assert slow["status_code"] is None
    assert slow["error"] == "no complete answer within 2 s"
    assert 1900 <= slow["duration_ms"] < 3000
    assert retried["status_code"] == 200


async def test_a_huge_answer_is_read_only_up_to_64_kib(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(Reply(500, body=b"x" * (50 * MAX_RESPONSE_BYTES)))
    await ping(api, endpoint)

    await all_settled(runtime)
    failed, succeeded = (await only_delivery(api, endpoint))["attempts"]
    assert failed["status_code"] == 500
    assert failed["error"] == "HTTP 500: " + "x" * 200
    assert succeeded["status_code"] == 200


async def test_an_unreachable_endpoint_is_logged_as_a_connection_failure(
    api: httpx.AsyncClient, worker: Worker, runtime: Runtime
) -> None:
    with free_socket() as unused:
        closed_port = unused.getsockname()[1]  # bound but never listening: refuses connections
        response = await api.post(
            "/v2/webhooks",
            json={"url": f"http://127.0.0.1:{closed_port}/x", "event_types": ["meter.created"]},
        )
        endpoint = response.json()
        await ping(api, endpoint)
        await all_settled(runtime)

    delivery = await only_delivery(api, endpoint)
    assert delivery["status"] == "FAILED"
    assert {attempt["status_code"] for attempt in delivery["attempts"]} == {None}
    assert all(a["error"].startswith("could not connect") for a in delivery["attempts"])


async def test_during_a_secret_rotation_deliveries_verify_with_either_secret(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    old_secret = receiver.secrets[0]
    response = await api.post(f"/v2/webhooks/{endpoint['webhook_endpoint_id']}/rotate-secret")
    assert response.status_code == 200, response.text
    new_secret = response.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret

    for secrets in ([old_secret], [new_secret]):
        receiver.secrets = secrets
        receiver.received.clear()
        await ping(api, endpoint)
        await eventually(lambda: _has_one(receiver), "the ping arrives")
        assert receiver.received[0].verified is not None
        assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2

    # Once the window is over, only the new secret signs.
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookEndpoint).values(previous_secret_expires_at=utc_now() - timedelta(1))
        )
    receiver.secrets = [old_secret]
    receiver.received.clear()
    await ping(api, endpoint)
    await eventually(lambda: _has_one(receiver), "the ping arrives")
    assert receiver.received[0].verified is None
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 1


async def _has_one(receiver: Receiver) -> bool:
    return len(receiver.received) >= 1


async def test_an_endpoint_failing_for_three_days_is_disabled_and_says_why(
    api: httpx.AsyncClient,
    receiver: Receiver,
    worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    endpoint = await create_endpoint(api, receiver)
    endpoint_url = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebhookEndpoint).values(failing_since=utc_now() - timedelta(days=3, minutes=1))
        )
    receiver.answer(Reply(500))
    await record_change(runtime, partner)
    await all_settled(runtime)

    disabled = (await api.get(endpoint_url)).json()
    assert disabled["enabled"] is False
    assert "every delivery had failed since" in disabled["disabled_reason"]
    assert "HTTP 500" in disabled["disabled_reason"]
    delivery = await only_delivery(api, endpoint)
    assert delivery["status"] == "FAILED"
    assert delivery["attempt_count"] == 1  # disabled: the scheduled retry is not attempted

    # Enabled again by the partner: the reason and the failure streak are cleared.
    body = {"url": endpoint["url"], "event_types": endpoint["event_types"], "enabled": True}
    enabled = (await api.put(endpoint_url, json=body)).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None


async def test_a_success_ends_the_failure_streak(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(Reply(500))
    await ping(api, endpoint)
    await all_settled(runtime)
    response = await api.get(f"/v2/webhooks/{endpoint['webhook_endpoint_id']}")
    assert response.json()["failing_since"] is None
    assert response.json()["enabled"] is True


async def test_redelivering_sends_the_same_event_again_and_the_log_grows(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver)
    receiver.answer(*[Reply(410)] * 8)
    await ping(api, endpoint)
    await all_settled(runtime)
    failed = await only_delivery(api, endpoint)
    assert failed["status"] == "FAILED"
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}/deliveries/{failed['delivery_id']}"

    response = await api.post(f"{path}/redeliver")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    await all_settled(runtime)

    redelivered = await only_delivery(api, endpoint)
    assert redelivered["status"] == "SUCCEEDED"
    assert redelivered["attempt_count"] == 9
    assert [a["status_code"] for a in redelivered["attempts"]] == [410] * 8 + [200]
    assert len({item.headers["webhook-id"] for item in receiver.received}) == 1


async def test_a_pending_delivery_cannot_be_redelivered(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(api, receiver)
    delivery = await ping(api, endpoint)  # no worker runs: it stays pending
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}/deliveries/{delivery['delivery_id']}"

    response = await api.post(f"{path}/redeliver")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "still pending" in response.json()["detail"]
