"""Queries for portal sessions and the daily counts of opened Connect links."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import LinkOpenCount, Organization, PortalSession, User, utc_now


class FlowDay(NamedTuple):
    """The key of a link-open count: a flow on a UTC day (with its organization, for scoping)."""

    organization_id: uuid.UUID
    flow_id: uuid.UUID
    day: date


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


async def add_link_opens(session: AsyncSession, counts: Mapping[FlowDay, int]) -> None:
    """Add counts to the stored ones in one statement (INSERT ... ON CONFLICT DO UPDATE).

    The database does the addition, so servers saving their counts at the same moment never lose
    each other's.
    """
    if not counts:
        return
    now = utc_now()
    rows = [
        {
            "organization_id": key.organization_id,
            "flow_id": key.flow_id,
            "day": key.day,
            "opens": opens,
            "updated_at": now,
        }
        for key, opens in counts.items()
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(LinkOpenCount).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[LinkOpenCount.flow_id, LinkOpenCount.day],
        set_={
            "opens": LinkOpenCount.opens + statement.excluded.opens,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(statement)


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
