"""Queries on webhook endpoints, the event outbox, deliveries and their attempts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.pagination import Position
from leap_connect.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

PENDING = "PENDING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


async def list_endpoints(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[WebhookEndpoint]:
    result = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(result)


async def enabled_endpoints(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[WebhookEndpoint]:
    result = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.enabled)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(result)


async def get_endpoint(
    session: AsyncSession, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint | None:
    result = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organization_id == organization_id
        )
    )
    return result.one_or_none()


async def delete_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """The endpoint and its delivery log; the events stay (other endpoints may have them)."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    await session.execute(
        delete(WebhookDeliveryAttempt).where(WebhookDeliveryAttempt.delivery_id.in_(deliveries))
    )
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def get_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    result = await session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
        )
    )
    return result.one_or_none()


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    before: Position | None,
    status: str | None,
    limit: int,
) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    """Newest first; `before` is where the previous page ended."""
    statement = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    if before is not None:
        statement = statement.where(
            or_(
                WebhookDelivery.created_at < before.created_at,
                and_(
                    WebhookDelivery.created_at == before.created_at,
                    WebhookDelivery.id < before.id,
                ),
            )
        )
    result = await session.execute(statement)
    return [(delivery, event) for delivery, event in result.all()]


async def attempts_by_delivery(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookDeliveryAttempt]]:
    attempts: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = defaultdict(list)
    if not delivery_ids:
        return attempts
    result = await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookDeliveryAttempt.attempted_at, WebhookDeliveryAttempt.id)
    )
    for attempt in result:
        attempts[attempt.delivery_id].append(attempt)
    return attempts


async def load_for_attempt(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent] | None:
    result = await session.execute(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def reopen_delivery(session: AsyncSession, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Make a finished delivery PENDING again; False if it is pending already (or was just made so).

    The status condition in the UPDATE decides between two concurrent requests: one wins.
    """
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_((SUCCEEDED, FAILED)))
        .values(status=PENDING, next_attempt_at=now, delivered_at=None)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None


async def record_attempt(
    session: AsyncSession,
    *,
    delivery_id: uuid.UUID,
    attempt_number: int,
    attempted_at: datetime,
    status_code: int | None,
    duration_ms: int,
    error: str | None,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    await session.execute(
        insert(WebhookDeliveryAttempt).values(
            id=uuid.uuid4(),
            delivery_id=delivery_id,
            attempted_at=attempted_at,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
        )
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status=status,
            attempt_count=attempt_number,
            next_attempt_at=next_attempt_at,
            delivered_at=attempted_at if status == SUCCEEDED else None,
        )
        .execution_options(synchronize_session=False)
    )


async def finish_without_attempt(session: AsyncSession, delivery_id: uuid.UUID) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


async def clear_failing_since(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    # Conditional, so the usual case (not failing) neither writes nor locks the endpoint row.
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


async def mark_failing_since(session: AsyncSession, endpoint_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=now)
        .execution_options(synchronize_session=False)
    )


async def disable_if_failing_since(
    session: AsyncSession, endpoint_id: uuid.UUID, *, cutoff: datetime, reason: str
) -> bool:
    """Disable the endpoint if it is still enabled and has failed since `cutoff` or earlier."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.enabled,
            WebhookEndpoint.failing_since <= cutoff,
        )
        .values(enabled=False, disabled_reason=reason[:500])
        .returning(WebhookEndpoint.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None
