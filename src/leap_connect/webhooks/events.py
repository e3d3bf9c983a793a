"""Recording webhook events in the transaction of the change they report (the outbox)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import WebhookEvent, utc_now

EVENT_TYPES = (
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.created",
    "meter.updated",
    "meter.partner_reference.updated",
    "meter.authorization.revoked",
    "agreement.signed",
)


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
    return event
