"""Recording webhook events in the transaction of the change they report (the outbox).

Recording an event also fans it out: one delivery per enabled endpoint of the organization that
subscribes to its type, each with a delivery job. All of it commits or rolls back with the change.
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
    """A delivery, and its first attempt's job, for each endpoint that wants the event."""
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
    await schedule_attempt(session, delivery_id=delivery.id, attempt=1, retry=0, run_at=now)
    return delivery


async def schedule_attempt(
    session: AsyncSession,
    *,
    delivery_id: uuid.UUID,
    attempt: int,
    retry: int,
    run_at: datetime,
) -> None:
    """Enqueue the job that makes attempt number `attempt` (the `retry`-th retry of its run).

    The key holds one job per attempt: a job re-run after its worker died cannot add a second.
    """
    await enqueue(
        session,
        kind=DELIVER_JOB,
        payload={"delivery_id": str(delivery_id), "attempt": attempt, "retry": retry},
        run_at=run_at,
        dedupe_key=f"webhook-delivery:{delivery_id}:{attempt}",
        max_attempts=5,
    )
