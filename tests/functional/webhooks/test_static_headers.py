"""Static headers: stored encrypted, sent as the partner set them, never in place of ours.

A partner's static headers often carry a credential (their gateway's key), so they are encrypted
at rest like the signing secret. Rows stored in plain JSON before that are still read, and the
worker encrypts them. A header Leap Connect sets cannot be a static one, and a delivery never
carries a header twice, whatever an old row holds.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from leap_connect.jobs.worker import Worker, in_process_worker
from leap_connect.runtime import Runtime
from tests.functional.webhooks.conftest import (
    STORED_SECRET,
    all_settled,
    create_endpoint,
    eventually,
    store_endpoint,
)
from tests.functional.webhooks.receiver import Receiver
from tests.support.factories import Partner

GATEWAY_KEY = "gk-7f3e9a-do-not-store-in-clear"


async def stored_rows(runtime: Runtime) -> str:
    """Everything the webhook_endpoints table holds, as a database dump would show it."""
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM webhook_endpoints"))).all()
    return repr(rows)


async def ping(api: httpx.AsyncClient, endpoint_id: str) -> None:
    response = await api.post(f"/v2/webhooks/{endpoint_id}/test")
    assert response.status_code == 202, response.text


async def test_static_headers_are_stored_encrypted_and_sent_as_the_partner_set_them(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime
) -> None:
    endpoint = await create_endpoint(api, receiver, headers={"X-Gateway-Key": GATEWAY_KEY})
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"

    assert endpoint["headers"] == {"X-Gateway-Key": GATEWAY_KEY}
    assert (await api.get(path)).json()["headers"] == {"X-Gateway-Key": GATEWAY_KEY}
    assert GATEWAY_KEY not in await stored_rows(runtime)
    await ping(api, endpoint["webhook_endpoint_id"])
    await all_settled(runtime)
    assert receiver.received[-1].headers["x-gateway-key"] == GATEWAY_KEY

    replaced = await api.put(
        path,
        json={
            "url": receiver.url,
            "event_types": ["meter.created"],
            "headers": {"X-Gateway-Key": "rotated-" + GATEWAY_KEY},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["headers"] == {"X-Gateway-Key": "rotated-" + GATEWAY_KEY}
    assert GATEWAY_KEY not in await stored_rows(runtime)


async def test_headers_stored_in_clear_before_are_sent_shown_and_then_encrypted_by_the_worker(
    api: httpx.AsyncClient, receiver: Receiver, runtime: Runtime, partner: Partner
) -> None:
    stored = await store_endpoint(
        runtime, partner, receiver.url, plain_headers={"X-Gateway-Key": GATEWAY_KEY}
    )
    receiver.secrets.append(STORED_SECRET)
    path = f"/v2/webhooks/{stored.id}"
    before = (await api.get(path)).json()
    assert before["headers"] == {"X-Gateway-Key": GATEWAY_KEY}
    assert GATEWAY_KEY in await stored_rows(runtime)

    async with in_process_worker(runtime, poll_interval=0.02):  # its periodic jobs run at start

        async def encrypted() -> bool:
            return GATEWAY_KEY not in await stored_rows(runtime)

        await eventually(encrypted, "the worker encrypts the headers stored in clear")
        await ping(api, str(stored.id))
        await all_settled(runtime)

    assert receiver.received[-1].verified is not None
    assert receiver.received[-1].headers["x-gateway-key"] == GATEWAY_KEY
    after = (await api.get(path)).json()
    assert after["headers"] == {"X-Gateway-Key": GATEWAY_KEY}
    assert after["updated_at"] == before["updated_at"]  # nothing the partner did changed


@pytest.mark.parametrize(
    "name",
    [
        "Accept-Encoding",
        "accept",
        "Content-Type",
        "content-length",
        "User-Agent",
        "Host",
        "Webhook-Id",
        "webhook-timestamp",
        "WEBHOOK-SIGNATURE",
        "Transfer-Encoding",
        "Connection",
    ],
)
async def test_a_header_leap_connect_sets_cannot_be_a_static_header(
    api: httpx.AsyncClient, name: str
) -> None:
    response = await api.post(
        "/v2/webhooks",
        json={
            "url": "https://partner.example/hooks",
            "event_types": ["meter.created"],
            "headers": {name: "mine"},
        },
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "headers"
    assert f'"{name}" is set by Leap Connect' in error["message"]


async def test_a_header_name_given_twice_in_different_case_is_refused(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/v2/webhooks",
        json={
            "url": "https://partner.example/hooks",
            "event_types": ["meter.created"],
            "headers": {"X-Gateway-Key": "a", "x-gateway-key": "b"},
        },
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "headers"
    assert "given twice" in error["message"]


async def test_a_header_stored_before_its_name_was_reserved_is_never_sent_twice(
    api: httpx.AsyncClient, receiver: Receiver, worker: Worker, runtime: Runtime, partner: Partner
) -> None:
    stored = await store_endpoint(
        runtime,
        partner,
        receiver.url,
        plain_headers={
            "Accept-Encoding": "gzip",
            "USER-AGENT": "partner-agent",
            "Webhook-Id": "forged",
            "Content-Type": "text/plain",
            "X-Gateway-Key": GATEWAY_KEY,
        },
    )
    receiver.secrets.append(STORED_SECRET)

    await ping(api, str(stored.id))
    await all_settled(runtime)

    [received] = receiver.received
    names = Counter(name.lower() for name, _ in received.raw_headers)
    assert {name: count for name, count in names.items() if count > 1} == {}
    assert received.headers["accept-encoding"] == "identity"
    assert received.headers["user-agent"] == "LeapConnect/0.1"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-gateway-key"] == GATEWAY_KEY
    assert received.verified is not None  # webhook-id is ours, so the signature verifies
    shown = (await api.get(f"/v2/webhooks/{stored.id}")).json()
    assert shown["headers"] == {"X-Gateway-Key": GATEWAY_KEY}  # what deliveries carry
