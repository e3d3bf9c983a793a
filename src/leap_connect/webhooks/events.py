"""Recording webhook events in the transaction of the change they report (the outbox).

Recording an event also fans it out: one delivery per enabled endpoint of the organization that
subscribes to its type, and that endpoint's delivery job queued to run now. All of it commits or
rolls back with the change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.jobs.service import enqueue
from leap_connect.models import WebhookDelivery, WebhookEvent, utc_now
from leap_connect.webhooks import repository

EVENT_TYPES = (
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.created",
    "meter.updated",
    "meter.partner_reference.updated",
    "meter.data_ready",
    "meter.authorization.revoked",
    "agreement.signed",
)
PING = "ping"  # sent only by POST /v2/webhooks/{id}/test, to that one endpoint

DELIVER_JOB = "webhooks.deliver"


async def record_event(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
) -> WebhookEvent:
    """Write the event with the caller's change; it commits or rolls back with it."""
    assert event_type in EVENT_TYPES, f"unknown webhook event type {event_type}"
    event = WebhookEvent(
        organization_id=organization_id,
        event_type=event_type,
        payload={"webhook_event_type": event_type, **payload},
        created_at=utc_now(),
    )
    session.add(event)
    await session.flush()
    await fan_out(session, event)
    return event


async def fan_out(session: AsyncSession, event: WebhookEvent) -> list[WebhookDelivery]:
    """A delivery, and its first attempt's job, for each endpoint that wants the event.

    The endpoints are held until commit, so one deleted meanwhile is still there for the delivery
    to refer to; its job removes it, and the delivery with it, once this has committed.
    """
    endpoints = await repository.enabled_endpoints(session, event.organization_id)
    return [
        await add_delivery(session, endpoint_id=endpoint.id, event_id=event.id)
        for endpoint in endpoints
        if event.event_type in endpoint.event_types
    ]


async def add_delivery(
    session: AsyncSession, *, endpoint_id: uuid.UUID, event_id: uuid.UUID
) -> WebhookDelivery:
    now = utc_now()
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        endpoint_id=endpoint_id,
        event_id=event_id,
        status=repository.PENDING,
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await schedule_deliveries(session, endpoint_id=endpoint_id, run_at=now)
    return delivery


def delivery_job_key(endpoint_id: uuid.UUID) -> str:
    return f"webhook-endpoint:{endpoint_id}"


async def schedule_deliveries(
    session: AsyncSession, *, endpoint_id: uuid.UUID, run_at: datetime
) -> None:
    """See that the endpoint's delivery job runs by `run_at`, for a delivery due then.

    An endpoint has one delivery job at a time (its dedupe key): one waiting is brought forward.
    One running may have looked for due deliveries before this transaction commits, so it looks
    again at its end, holding the endpoint, before it queues its next run; holding the endpoint
    here (until commit) makes that last look wait for this delivery, or this wait for its end.
    """
    await repository.share_endpoint(session, endpoint_id)
    await enqueue(
        session,
        kind=DELIVER_JOB,
        payload={"webhook_endpoint_id": str(endpoint_id)},
        run_at=run_at,
        dedupe_key=delivery_job_key(endpoint_id),
    )
