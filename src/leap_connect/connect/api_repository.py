"""Queries behind the partner API's connect operations: connection statuses a page at a time."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.pagination import Position
from leap_connect.models import ConnectFlow, ConnectSession, UtilityAuthorization


@dataclass(frozen=True, slots=True)
class SessionFilters:
    partner_reference: str | None = None
    status: str | None = None
    updated_after: datetime | None = None


async def get_connect_session(
    session: AsyncSession, organization_id: uuid.UUID, connect_session_id: uuid.UUID
) -> ConnectSession | None:
    result = await session.execute(
        select(ConnectSession).where(
            ConnectSession.id == connect_session_id,
            ConnectSession.organization_id == organization_id,
        )
    )
    return result.scalar_one_or_none()


async def search_connect_sessions(
    session: AsyncSession,
    organization_id: uuid.UUID,
    filters: SessionFilters,
    *,
    after: Position | None,
    limit: int,
) -> list[ConnectSession]:
    """Newest first by `(created_at, id)`, starting after `after`."""
    query = select(ConnectSession).where(ConnectSession.organization_id == organization_id)
    if filters.partner_reference is not None:
        query = query.where(ConnectSession.partner_reference == filters.partner_reference)
    if filters.status is not None:
        query = query.where(ConnectSession.status == filters.status)
    if filters.updated_after is not None:
        query = query.where(ConnectSession.updated_at > filters.updated_after)
    if after is not None:
        query = query.where(
            tuple_(ConnectSession.created_at, ConnectSession.id) < (after.created_at, after.id)
        )
    query = query.order_by(ConnectSession.created_at.desc(), ConnectSession.id.desc()).limit(limit)
    result = await session.execute(query)
    return list(result.scalars())


async def flows_by_id(
    session: AsyncSession, flow_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, ConnectFlow]:
    if not flow_ids:
        return {}
    result = await session.execute(select(ConnectFlow).where(ConnectFlow.id.in_(flow_ids)))
    return {flow.id: flow for flow in result.scalars()}


async def authorizations_of(
    session: AsyncSession, connect_session_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[UtilityAuthorization]]:
    """Each session's authorization attempts, oldest first (every session has an entry)."""
    found: dict[uuid.UUID, list[UtilityAuthorization]] = {i: [] for i in connect_session_ids}
    if not connect_session_ids:
        return found
    result = await session.execute(
        select(UtilityAuthorization)
        .where(UtilityAuthorization.connect_session_id.in_(connect_session_ids))
        .order_by(UtilityAuthorization.created_at, UtilityAuthorization.id)
    )
    for authorization in result.scalars():
        found[authorization.connect_session_id].append(authorization)
    return found
