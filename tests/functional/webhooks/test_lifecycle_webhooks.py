"""A customer who stops sharing at the utility: one check later, the partner's receiver has both
events, verified."""

from __future__ import annotations

from datetime import timedelta

import httpx

from leap_connect.jobs.worker import Worker
from leap_connect.runtime import Runtime
from tests.functional.test_authorization_lifecycle import check_once, connected_meter
from tests.functional.webhooks.conftest import all_settled, create_endpoint, eventually
from tests.functional.webhooks.receiver import Receiver
from tests.support.browser import Browser
from tests.support.factories import Partner


async def test_customer_revokes_at_the_utility_and_both_events_are_delivered(
    browser: Browser,
    client: httpx.AsyncClient,
    partner: Partner,
    api: httpx.AsyncClient,
    receiver: Receiver,
    worker: Worker,
    runtime: Runtime,
) -> None:
    await create_endpoint(
        api,
        receiver,
        event_types=["connect_session.authorization_updated", "meter.authorization.revoked"],
    )
    authorization_id, meter_id = await connected_meter(browser, runtime)
    signed_in = {"username": "residential", "password": "sandbox"}
    account = await client.post("/sandbox/pge/account/sharing", data=signed_in)
    grant = account.text.split('name="stop" value="')[1].split('"')[0]
    await client.post("/sandbox/pge/account/sharing", data={**signed_in, "stop": grant})

    # A day on: whether or not the worker's own run of the check came first, it is due again.
    assert (await check_once(runtime, later=timedelta(days=1, minutes=1))).revoked == 1

    async def both_arrived() -> bool:
        return len(receiver.events) == 4  # initiated, completed, then the two of the revocation

    await eventually(both_arrived, "the revocation's events arrive")
    await all_settled(runtime)
    ended = sorted(receiver.events, key=lambda event: event["created_at"])[-2:]
    session_event, meter_event = (event["payload"] for event in ended)
    assert session_event["webhook_event_type"] == "connect_session.authorization_updated"
    assert session_event["authorization"]["authorization_id"] == authorization_id
    assert session_event["authorization"]["status"] == "REVOKED"
    assert meter_event["webhook_event_type"] == "meter.authorization.revoked"
    assert meter_event["meter"]["meter_id"] == meter_id
    assert meter_event["meter"]["authorization"]["status"] == "REVOKED"
