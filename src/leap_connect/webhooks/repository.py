"""Queries on webhook endpoints, the event outbox, deliveries and their attempts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
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


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id)


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


async def endpoint_by_id(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def share_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """Hold the endpoint row (FOR KEY SHARE) until commit, so `lock_endpoint` waits for it.

    Weak: other transactions sharing it, and updates of the endpoint's settings, do not wait.
    """
    await session.execute(
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.id == endpoint_id)
        .with_for_update(read=True, key_share=True)
    )


async def lock_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """Wait for every transaction holding the endpoint with `share_endpoint`, and keep off new ones.

    Held until commit. SQLite has no row locks, but a write takes its one write lock, which does the
    same for every writing transaction.
    """
    if session.get_bind().dialect.name == "sqlite":
        # Writes the value it has, so the endpoint's updated_at is left alone.
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(updated_at=WebhookEndpoint.updated_at)
            .execution_options(synchronize_session=False)
        )
        return
    await session.execute(
        select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: uuid.UUID
    attempt_count: int
    scheduled_retries: int
    event: WebhookEvent


async def claim_due_deliveries(
    session: AsyncSession, endpoint_id: uuid.UUID, *, now: datetime, limit: int
) -> list[DueDelivery]:
    """Lock up to `limit` of the endpoint's pending deliveries due by `now`, soonest first.

    The row locks last until the transaction that records the attempts commits. SKIP LOCKED: a
    second run of the endpoint's job (the first one's lease ran out mid-batch) takes other
    deliveries rather than sending the same ones. SQLite leaves FOR UPDATE out.
    """
    result = await session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempt_count,
            WebhookDelivery.scheduled_retries,
            WebhookEvent,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    return [DueDelivery(*row) for row in result.all()]


async def next_attempt_at(session: AsyncSession, endpoint_id: uuid.UUID) -> datetime | None:
    """When the endpoint's soonest pending delivery is due; None when none is pending."""
    result = await session.execute(
        select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING
        )
    )
    moment: datetime | None = result.scalar_one()
    return moment


async def reopen_delivery(session: AsyncSession, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Make a finished delivery PENDING again; False if it is pending already (or was just made so).

    The status condition in the UPDATE decides between two concurrent requests: one wins.
    """
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status.in_((SUCCEEDED, FAILED)))
        .values(status=PENDING, next_attempt_at=now, delivered_at=None, scheduled_retries=0)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None


async def record_attempts(
    session: AsyncSession,
    attempts: Sequence[dict[str, Any]],
    deliveries: Sequence[dict[str, Any]],
) -> None:
    """Add the attempts to the log and update their deliveries (by id), a statement each."""
    if attempts:
        await session.execute(insert(WebhookDeliveryAttempt), list(attempts))
    if deliveries:
        await session.execute(update(WebhookDelivery), list(deliveries))


async def finish_without_attempt(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> None:
    if not delivery_ids:
        return
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == PENDING)
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
