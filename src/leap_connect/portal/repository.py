"""Queries for portal sessions and the daily counts of opened Connect links."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import String, cast, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import (
    Agreement,
    ApiKey,
    AuditLogEntry,
    ConnectSession,
    LinkOpenCount,
    Organization,
    PortalSession,
    User,
    UtilityAuthorization,
    WebhookEvent,
)

SHOWN_ROWS = 100


async def get_portal_session(
    session: AsyncSession, token_hmac: str
) -> tuple[PortalSession, User, Organization] | None:
    result = await session.execute(
        select(PortalSession, User, Organization)
        .join(User, User.id == PortalSession.user_id)
        .join(Organization, Organization.id == User.organization_id)
        .where(PortalSession.token_hmac == token_hmac)
    )
    row = result.one_or_none()
    return (row[0], row[1], row[2]) if row else None


async def delete_portal_session(session: AsyncSession, portal_session_id: uuid.UUID) -> None:
    await session.execute(delete(PortalSession).where(PortalSession.id == portal_session_id))


async def delete_expired_portal_sessions(
    session: AsyncSession, *, now: datetime, idle_since: datetime, user_id: uuid.UUID | None = None
) -> int:
    """Delete sessions past their absolute expiry or unused since `idle_since`; returns how many."""
    statement = delete(PortalSession).where(
        or_(PortalSession.expires_at <= now, PortalSession.last_seen_at <= idle_since)
    )
    if user_id is not None:
        statement = statement.where(PortalSession.user_id == user_id)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def link_opens_by_flow(
    session: AsyncSession, organization_id: uuid.UUID, *, since: date
) -> dict[uuid.UUID, int]:
    """The organization's opens per flow, from the UTC day `since` on."""
    result = await session.execute(
        select(LinkOpenCount.flow_id, func.sum(LinkOpenCount.opens))
        .where(LinkOpenCount.organization_id == organization_id, LinkOpenCount.day >= since)
        .group_by(LinkOpenCount.flow_id)
    )
    return {flow_id: int(total or 0) for flow_id, total in result.all()}


async def link_opens_between(
    session: AsyncSession,
    organization_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    first: date,
    last: date,
) -> int:
    """A flow's opens on the UTC days `first` to `last`, both included."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LinkOpenCount.opens), 0)).where(
            LinkOpenCount.organization_id == organization_id,
            LinkOpenCount.flow_id == flow_id,
            LinkOpenCount.day >= first,
            LinkOpenCount.day <= last,
        )
    )
    return int(total or 0)


class FunnelCounts(NamedTuple):
    sessions: int
    authorized: int
    signed: int
    completed: int


async def funnel_counts(
    session: AsyncSession,
    organization_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    since: datetime,
    before: datetime,
) -> FunnelCounts:
    """Sessions of a flow created in [since, before), and how many got to each later step."""
    scope = (
        ConnectSession.organization_id == organization_id,
        ConnectSession.flow_id == flow_id,
        ConnectSession.created_at >= since,
        ConnectSession.created_at < before,
    )
    authorized = exists().where(
        UtilityAuthorization.connect_session_id == ConnectSession.id,
        UtilityAuthorization.status == "COMPLETED",
    )
    signed = exists().where(Agreement.connect_session_id == ConnectSession.id)

    async def count(*conditions: object) -> int:
        value = await session.scalar(
            select(func.count()).select_from(ConnectSession).where(*scope, *conditions)  # type: ignore[arg-type]
        )
        return int(value or 0)

    return FunnelCounts(
        sessions=await count(),
        authorized=await count(authorized),
        signed=await count(signed),
        completed=await count(ConnectSession.status == "COMPLETED"),
    )


async def session_agreements(
    session: AsyncSession, organization_id: uuid.UUID, connect_session_id: uuid.UUID
) -> list[Agreement]:
    result = await session.execute(
        select(Agreement)
        .where(
            Agreement.organization_id == organization_id,
            Agreement.connect_session_id == connect_session_id,
        )
        .order_by(Agreement.signed_at)
    )
    return list(result.scalars())


async def meter_history(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> list[AuditLogEntry]:
    result = await session.execute(
        select(AuditLogEntry)
        .where(
            AuditLogEntry.organization_id == organization_id,
            AuditLogEntry.object_type == "meter",
            AuditLogEntry.object_id == str(meter_id),
        )
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id)
        .limit(SHOWN_ROWS)
    )
    return list(result.scalars())


async def meter_webhook_events(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> list[WebhookEvent]:
    """The organization's events whose payload mentions the meter's ID, newest first."""
    result = await session.execute(
        select(WebhookEvent)
        .where(
            WebhookEvent.organization_id == organization_id,
            cast(WebhookEvent.payload, String).contains(str(meter_id)),
        )
        .order_by(WebhookEvent.created_at.desc(), WebhookEvent.id)
        .limit(SHOWN_ROWS)
    )
    return list(result.scalars())


async def list_api_keys(session: AsyncSession, organization_id: uuid.UUID) -> list[ApiKey]:
    result = await session.execute(
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return list(result.scalars())


async def get_api_key(
    session: AsyncSession, organization_id: uuid.UUID, api_key_id: uuid.UUID
) -> ApiKey | None:
    result = await session.execute(
        select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == api_key_id)
    )
    return result.scalar_one_or_none()
