"""Events are written with the change they report, and go to the endpoints that asked for them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, Organization, WebhookDelivery, WebhookEvent
from leap_connect.runtime import Runtime
from leap_connect.webhooks.events import DELIVER_JOB, record_event
from tests.functional.webhooks.conftest import (
    all_settled,
    api_key_for,
    create_endpoint,
    record_change,
)
from tests.functional.webhooks.receiver import Receiver, event_types, running_receiver
from tests.support.factories import Partner, create_partner


class ChangeFailed(Exception):
    pass


async def count(runtime: Runtime, model: type[object], *where: object) -> int:
    async with runtime.sessionmaker() as session:
        statement = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(statement) or 0)


async def test_a_change_that_rolls_back_leaves_no_event_and_sends_nothing(
    api: httpx.AsyncClient,
    receiver: Receiver,
    worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    await create_endpoint(api, receiver)

    with pytest.raises(ChangeFailed):
        async with runtime.sessionmaker() as session, session.begin():
            organization = await session.get(Organization, partner.organization.id)
            assert organization is not None
            organization.display_name = "Renamed Energy"
            await record_event(
                session,
                organization_id=partner.organization.id,
                event_type="meter.created",
                payload={"meter": {"meter_id": "not-kept"}},
            )
            raise ChangeFailed("the change failed after its event was written")

    # A change that commits afterwards is delivered: the worker ran, and found only that one.
    kept = await record_change(runtime, partner)
    await all_settled(runtime)
    assert [event["webhook_event_id"] for event in receiver.events] == [kept]
    async with runtime.sessionmaker() as session:
        organization = await session.get(Organization, partner.organization.id)
    assert organization is not None and organization.display_name == "Acme Energy"
    assert await count(runtime, WebhookEvent) == 1
    assert await count(runtime, WebhookDelivery) == 1
    assert await count(runtime, Job, Job.kind == DELIVER_JOB) == 1


async def test_events_go_only_to_enabled_endpoints_of_the_organization_that_subscribe(
    app: FastAPI,
    api: httpx.AsyncClient,
    receiver: Receiver,
    worker: Worker,
    runtime: Runtime,
    partner: Partner,
) -> None:
    meters_endpoint = await create_endpoint(api, receiver, event_types=["meter.updated"])
    with (
        running_receiver() as sessions_only,
        running_receiver() as disabled,
        running_receiver() as others_receiver,
    ):
        await create_endpoint(api, sessions_only, event_types=["connect_session.updated"])
        await create_endpoint(api, disabled, event_types=["meter.updated"], enabled=False)
        other = await create_partner(runtime, name="other", flow_title="other-flow")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=str(api.base_url),
            headers=await api_key_for(runtime, other),
        ) as other_api:
            await create_endpoint(other_api, others_receiver, event_types=["meter.updated"])

            first = await record_change(runtime, partner, "meter.updated")
            second = await record_change(runtime, partner, "meter.updated")
            await all_settled(runtime)

            # Both may go out in one batch, so they can arrive in either order.
            assert sorted(event["webhook_event_id"] for event in receiver.events) == sorted(
                [first, second]
            )
            assert event_types(receiver.events) == ["meter.updated"] * 2
            assert sessions_only.received == []
            assert disabled.received == []
            assert others_receiver.received == []
    response = await api.get(f"/v2/webhooks/{meters_endpoint['webhook_endpoint_id']}/deliveries")
    assert [d["webhook_event_id"] for d in response.json()["deliveries"]] == [second, first]
