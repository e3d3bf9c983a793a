"""Queries for flows, connect sessions, utility authorizations and the opened links."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect.schemas import SessionFilters
from leap_connect.kit.pagination import Position
from leap_connect.models import (
    ConnectFlow,
    ConnectSession,
    LinkOpen,
    Organization,
    UtilityAuthorization,
)


async def get_flow(
    session: AsyncSession, organization_id: uuid.UUID, url_friendly_title: str
) -> ConnectFlow | None:
    result = await session.execute(
        select(ConnectFlow).where(
            ConnectFlow.organization_id == organization_id,
            ConnectFlow.url_friendly_title == url_friendly_title,
        )
    )
    return result.scalar_one_or_none()


async def get_flow_by_id(session: AsyncSession, flow_id: uuid.UUID) -> ConnectFlow | None:
    return await session.get(ConnectFlow, flow_id)


async def list_flows(session: AsyncSession, organization_id: uuid.UUID) -> list[ConnectFlow]:
    result = await session.execute(
        select(ConnectFlow)
        .where(ConnectFlow.organization_id == organization_id)
        .order_by(ConnectFlow.url_friendly_title)
    )
    return list(result.scalars())


async def get_connect_session_with_flow(
    session: AsyncSession, connect_session_id: uuid.UUID, *, lock: bool = False
) -> tuple[ConnectSession, ConnectFlow, Organization] | None:
    """The session with its flow and organization, in one round trip: every page reads all three.

    With `lock`, the session's row stays locked until the transaction ends (PostgreSQL; SQLite
    has one writer), so a double-clicked Sign records one agreement.
    """
    statement = (
        select(ConnectSession, ConnectFlow, Organization)
        .join(ConnectFlow, ConnectFlow.id == ConnectSession.flow_id)
        .join(Organization, Organization.id == ConnectSession.organization_id)
        .where(ConnectSession.id == connect_session_id)
    )
    if lock:
        statement = statement.with_for_update(of=ConnectSession).execution_options(
            populate_existing=True
        )
    result = await session.execute(statement)
    row = result.one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def find_open_connect_session(
    session: AsyncSession,
    *,
    flow_id: uuid.UUID,
    browser_binding_hmac: str,
    partner_reference: str | None,
) -> ConnectSession | None:
    result = await session.execute(
        select(ConnectSession)
        .where(
            ConnectSession.flow_id == flow_id,
            ConnectSession.browser_binding_hmac == browser_binding_hmac,
            ConnectSession.partner_reference.is_(None)
            if partner_reference is None
            else ConnectSession.partner_reference == partner_reference,
            ConnectSession.status.in_(("CREATED", "UPDATED")),
        )
        .order_by(ConnectSession.created_at.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def list_authorizations(
    session: AsyncSession, connect_session_id: uuid.UUID
) -> list[UtilityAuthorization]:
    result = await session.execute(
        select(UtilityAuthorization)
        .where(UtilityAuthorization.connect_session_id == connect_session_id)
        .order_by(UtilityAuthorization.created_at)
    )
    return list(result.scalars())


async def get_authorization_by_state(
    session: AsyncSession, state_hmac: str
) -> tuple[UtilityAuthorization, ConnectSession] | None:
    """The attempt a callback's `state` names, with its connect session, in one round trip."""
    return await _authorization_with_session(session, UtilityAuthorization.state_hmac == state_hmac)


async def spend_state(session: AsyncSession, authorization_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark the attempt's `state` used; False if another request used it first (single use)."""
    result = await session.execute(
        update(UtilityAuthorization)
        .where(
            UtilityAuthorization.id == authorization_id,
            UtilityAuthorization.state_used_at.is_(None),
        )
        .values(state_used_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def complete_kept_authorization(session: AsyncSession, authorization_id: uuid.UUID) -> bool:
    """Mark a kept, not yet recorded grant COMPLETED; False if it is not one (any more).

    One conditional UPDATE, so of two transactions recording the same grant (the callback's
    request and its job) exactly one gets True: PostgreSQL makes the second wait for the first and
    then finds the row no longer INITIATED; SQLite lets one writer at a time.
    """
    result = await session.execute(
        update(UtilityAuthorization)
        .where(
            UtilityAuthorization.id == authorization_id,
            UtilityAuthorization.status == "INITIATED",
            UtilityAuthorization.authorized_at.is_not(None),
        )
        .values(status="COMPLETED", error_code=None, error_description=None)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def get_authorization_with_session(
    session: AsyncSession, authorization_id: uuid.UUID
) -> tuple[UtilityAuthorization, ConnectSession] | None:
    return await _authorization_with_session(session, UtilityAuthorization.id == authorization_id)


async def _authorization_with_session(
    session: AsyncSession, condition: ColumnElement[bool]
) -> tuple[UtilityAuthorization, ConnectSession] | None:
    result = await session.execute(
        select(UtilityAuthorization, ConnectSession)
        .join(ConnectSession, ConnectSession.id == UtilityAuthorization.connect_session_id)
        .where(condition)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def get_authorization_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, authorization_id: uuid.UUID
) -> tuple[UtilityAuthorization, ConnectSession] | None:
    return await _authorization_with_session(
        session,
        (UtilityAuthorization.id == authorization_id)
        & (UtilityAuthorization.organization_id == organization_id),
    )


async def take_standing_grant(
    session: AsyncSession, authorization_id: uuid.UUID, *, status: str
) -> bool:
    """Move a COMPLETED authorization to `status`; False when it is not COMPLETED (any more). One
    statement, so of two transactions ending the same grant at once only one does."""
    result = await session.execute(
        update(UtilityAuthorization)
        .where(
            UtilityAuthorization.id == authorization_id, UtilityAuthorization.status == "COMPLETED"
        )
        .values(status=status)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def set_revocation_error(
    session: AsyncSession, authorization_id: uuid.UUID, error: str
) -> None:
    await session.execute(
        update(UtilityAuthorization)
        .where(UtilityAuthorization.id == authorization_id)
        .values(revocation_error=error[:1000])
    )


async def lapsed_authorizations(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[UtilityAuthorization]:
    """Completed grants whose end has passed: the lifecycle job marks them EXPIRED."""
    result = await session.scalars(
        select(UtilityAuthorization)
        .where(UtilityAuthorization.status == "COMPLETED", UtilityAuthorization.expires_at <= now)
        .order_by(UtilityAuthorization.expires_at)
        .limit(limit)
    )
    return list(result)


async def authorizations_due_for_check(
    session: AsyncSession, *, checked_before: datetime, limit: int
) -> list[UtilityAuthorization]:
    """Completed grants not asked about at the utility since `checked_before`, never-asked first."""
    never = UtilityAuthorization.status_checked_at.is_(None)
    result = await session.scalars(
        select(UtilityAuthorization)
        .where(
            UtilityAuthorization.status == "COMPLETED",
            never | (UtilityAuthorization.status_checked_at < checked_before),
        )
        .order_by(never.desc(), UtilityAuthorization.status_checked_at)
        .limit(limit)
    )
    return list(result)


async def idle_connect_sessions(
    session: AsyncSession, *, idle_since: datetime, limit: int
) -> list[ConnectSession]:
    """Open sessions untouched since `idle_since`, oldest first."""
    result = await session.execute(
        select(ConnectSession)
        .where(
            ConnectSession.status.in_(("CREATED", "UPDATED")),
            ConnectSession.last_interaction_at < idle_since,
        )
        .order_by(ConnectSession.last_interaction_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars())


class NotedOpen(NamedTuple):
    """A visitor who opened a flow's link on a UTC day, as a server notes it before saving it."""

    organization_id: uuid.UUID
    flow_id: uuid.UUID
    day: date
    visitor: str
    browser_binding_hmac: str
    opened_at: datetime


LINK_OPENS_PER_STATEMENT = 1000  # 6 values a row, well under SQLite's and asyncpg's limits


async def add_link_opens(session: AsyncSession, opens: Collection[NotedOpen]) -> None:
    """Store link opens in one statement; a visitor already stored for the flow and day is kept.

    INSERT ... ON CONFLICT DO NOTHING, so servers saving the same visitor at the same moment agree.
    """
    if not opens:
        return
    rows = [link_open._asdict() for link_open in opens]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), LINK_OPENS_PER_STATEMENT):
        chunk = rows[start : start + LINK_OPENS_PER_STATEMENT]
        await session.execute(insert(LinkOpen).values(chunk).on_conflict_do_nothing())


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
