"""Queries on webhook endpoints, the event outbox, deliveries and their attempts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
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


NOT_DELETED = WebhookEndpoint.deleted_at.is_(None)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a NOWAIT lock that is held


async def list_endpoints(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[WebhookEndpoint]:
    result = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id, NOT_DELETED)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(result)


async def enabled_endpoints(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[WebhookEndpoint]:
    """The endpoints an event goes to, held (FOR KEY SHARE) until the caller commits.

    Held, so an endpoint cannot be removed between this read and the insert of its delivery: the
    removal (`purge_endpoint`) waits for this transaction, and this read skips an endpoint being
    removed. Deleting an endpoint only marks it, which does not wait for this, nor this for it.
    """
    result = await session.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.enabled,
            NOT_DELETED,
        )
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        .with_for_update(read=True, key_share=True)
    )
    return list(result)


async def get_endpoint(
    session: AsyncSession,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    hold: bool = False,
) -> WebhookEndpoint | None:
    """The organization's endpoint, unless deleted; with `hold`, held as `enabled_endpoints` does
    (for a change that writes it or adds to its log, which must not find it removed)."""
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.organization_id == organization_id,
        NOT_DELETED,
    )
    if hold:
        statement = statement.with_for_update(read=True, key_share=True)
    result = await session.scalars(statement)
    return result.one_or_none()


async def mark_deleted(
    session: AsyncSession, organization_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
) -> bool:
    """Hide the endpoint, disabled and without its static headers; False if it is not there.

    An UPDATE of columns no foreign key uses: it neither waits for the transactions adding
    deliveries to the endpoint nor makes them fail.
    """
    result = await session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.organization_id == organization_id,
            NOT_DELETED,
        )
        .values(deleted_at=now, enabled=False, headers={}, headers_encrypted=None)
        .returning(WebhookEndpoint.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None


async def is_deleted(session: AsyncSession, endpoint_id: uuid.UUID) -> bool:
    """Whether the endpoint is marked deleted (or already removed)."""
    result = await session.execute(
        select(WebhookEndpoint.deleted_at).where(WebhookEndpoint.id == endpoint_id)
    )
    row = result.one_or_none()
    return row is None or row.deleted_at is not None


async def purge_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """Remove a deleted endpoint and its delivery log; the events stay (others may have them).

    First its deliveries are locked, which waits for a run of its job still sending some, then the
    endpoint, which waits for the transactions that picked it for a delivery before it was marked
    deleted; what they added is removed with the rest.
    """
    await session.execute(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .with_for_update()
    )
    await lock_endpoint(session, endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    await session.execute(
        delete(WebhookDeliveryAttempt).where(WebhookDeliveryAttempt.delivery_id.in_(deliveries))
    )
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def plain_headers(
    session: AsyncSession, *, limit: int
) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """Endpoints whose static headers are still stored in plain JSON (written before 0010)."""
    result = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.headers)
        .where(WebhookEndpoint.headers_encrypted.is_(None), NOT_DELETED)
        .limit(limit)
    )
    return [(endpoint_id, headers) for endpoint_id, headers in result.all()]


async def store_encrypted_headers(
    session: AsyncSession, endpoint_id: uuid.UUID, headers_encrypted: str
) -> bool:
    """Replace plain headers with their encryption, unless the endpoint was written since.

    The endpoint's `updated_at` is left alone: for the partner, nothing changed.
    """
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.headers_encrypted.is_(None))
        .values(
            headers_encrypted=headers_encrypted, headers={}, updated_at=WebhookEndpoint.updated_at
        )
        .returning(WebhookEndpoint.id)
        .execution_options(synchronize_session=False)
    )
    return result.one_or_none() is not None


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


async def try_lock_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> bool:
    """`lock_endpoint` if no transaction holds the endpoint now, else False at once.

    Waiting is no answer for a busy endpoint: events keep sharing it, each new one may share it
    while an earlier one still does, and a waiting lock holds up everything queued behind it (a
    partner's DELETE of the endpoint, for one).
    """
    if session.get_bind().dialect.name == "sqlite":
        await lock_endpoint(session, endpoint_id)
        return True
    try:
        async with session.begin_nested():
            await session.execute(
                select(WebhookEndpoint.id)
                .where(WebhookEndpoint.id == endpoint_id)
                .with_for_update(nowait=True)
            )
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return False
    return True


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
