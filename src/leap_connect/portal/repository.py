"""Queries for portal sessions, the opened Connect links and what the portal's tabs show."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, String, case, cast, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import (
    Agreement,
    ApiKey,
    AuditLogEntry,
    ConnectFlow,
    ConnectSession,
    Document,
    LinkOpen,
    Meter,
    Organization,
    PortalSession,
    User,
    UtilityAuthorization,
    WebhookEvent,
)
from leap_connect.models.meter import MeterInterval

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
    """The organization's visitors per flow (each once a day), from the UTC day `since` on."""
    result = await session.execute(
        select(LinkOpen.flow_id, func.count())
        .where(LinkOpen.organization_id == organization_id, LinkOpen.day >= since)
        .group_by(LinkOpen.flow_id)
    )
    return {flow_id: int(total or 0) for flow_id, total in result.all()}


class FunnelCounts(NamedTuple):
    """How far a flow's sessions got, each step counting the sessions that reached it or went
    further, so no step can count more than the one before."""

    opened_without_session: int
    sessions: int
    authorized: int
    signed: int
    completed: int


async def funnel_counts(
    session: AsyncSession,
    organization_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    first: date,
    last: date,
    terms_before_authorization: bool,
) -> FunnelCounts:
    """The sessions of a flow opened on the UTC days `first` to `last`, and its other visitors.

    `opened_without_session` counts the visitors of those days (each once a day) whose browser
    started no session of the flow then: together with the sessions, everyone who opened a link.
    """
    since = datetime.combine(first, time(), tzinfo=UTC)
    before = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    in_range = (
        ConnectSession.organization_id == organization_id,
        ConnectSession.flow_id == flow_id,
        ConnectSession.created_at >= since,
        ConnectSession.created_at < before,
    )
    started = exists().where(
        *in_range, ConnectSession.browser_binding_hmac == LinkOpen.browser_binding_hmac
    )
    opened_without_session = await session.scalar(
        select(func.count())
        .select_from(LinkOpen)
        .where(
            LinkOpen.organization_id == organization_id,
            LinkOpen.flow_id == flow_id,
            LinkOpen.day >= first,
            LinkOpen.day <= last,
            ~started,
        )
    )
    completed = ConnectSession.status == "COMPLETED"
    authorized_or_further = or_(
        exists().where(
            UtilityAuthorization.connect_session_id == ConnectSession.id,
            or_(
                UtilityAuthorization.status == "COMPLETED",
                UtilityAuthorization.authorized_at.is_not(None),
            ),
        ),
        completed,
    )
    signed_or_further = or_(
        exists().where(Agreement.connect_session_id == ConnectSession.id), completed
    )
    # Each step also counts the sessions past it, in the order this flow asks for them.
    if terms_before_authorization:
        signed_or_further = or_(signed_or_further, authorized_or_further)
    else:
        authorized_or_further = or_(authorized_or_further, signed_or_further)

    def reaching(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = (
        await session.execute(
            select(
                func.count(),
                reaching(authorized_or_further),
                reaching(signed_or_further),
                reaching(completed),
            ).where(*in_range)
        )
    ).one()
    return FunnelCounts(int(opened_without_session or 0), *(int(value) for value in row))


async def flow_has_terms(session: AsyncSession, flow_id: uuid.UUID) -> bool:
    found = await session.scalar(select(exists().where(Document.flow_id == flow_id)))
    return bool(found)


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


async def list_audit_entries(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    before: datetime | None,
    limit: int,
) -> list[AuditLogEntry]:
    """The organization's audit log, newest first, from just before `before` when given."""
    query = select(AuditLogEntry).where(AuditLogEntry.organization_id == organization_id)
    if before is not None:
        query = query.where(AuditLogEntry.created_at < before)
    result = await session.execute(
        query.order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id).limit(limit)
    )
    return list(result.scalars())


async def user_emails(
    session: AsyncSession, organization_id: uuid.UUID, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    result = await session.execute(
        select(User.id, User.email).where(
            User.organization_id == organization_id, User.id.in_(user_ids)
        )
    )
    return {user_id: email for user_id, email in result.all()}


async def api_keys_by_id(
    session: AsyncSession, organization_id: uuid.UUID, api_key_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, ApiKey]:
    if not api_key_ids:
        return {}
    result = await session.execute(
        select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id.in_(api_key_ids))
    )
    return {api_key.id: api_key for api_key in result.scalars()}


async def meter_ids_matching(
    session: AsyncSession,
    organization_id: uuid.UUID,
    text: str,
    *,
    utility_ids: Collection[str],
    limit: int,
) -> list[uuid.UUID]:
    """Meters whose customer, address, meter number or Reference ID holds `text` (any case), or
    at one of `utility_ids`; the newest `limit` of them, in ID order."""
    columns = (
        Meter.end_customer_name,
        Meter.end_customer_company_name,
        Meter.street_1,
        Meter.street_2,
        Meter.city,
        Meter.postal_code,
        Meter.utility_meter_serial_number,
        Meter.service_point_id,
        Meter.utility_meter_id,
        Meter.partner_reference,
    )
    lowered = text.lower()
    matches = [func.lower(column).contains(lowered, autoescape=True) for column in columns]
    if utility_ids:
        matches.append(Meter.utility_id.in_(utility_ids))
    result = await session.execute(
        select(Meter.id)
        .where(Meter.organization_id == organization_id, or_(*matches))
        .order_by(Meter.created_at.desc(), Meter.id)
        .limit(limit)
    )
    return sorted(result.scalars())


async def meter_authorization(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> tuple[UtilityAuthorization, ConnectFlow] | None:
    """The authorization the meter's data comes through now, and the flow it was given in."""
    result = await session.execute(
        select(UtilityAuthorization, ConnectFlow)
        .join(Meter, Meter.utility_authorization_id == UtilityAuthorization.id)
        .join(ConnectSession, ConnectSession.id == UtilityAuthorization.connect_session_id)
        .join(ConnectFlow, ConnectFlow.id == ConnectSession.flow_id)
        .where(Meter.id == meter_id, Meter.organization_id == organization_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def meter_readings_since(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID, *, since: datetime
) -> list[MeterInterval]:
    """The meter's stored readings of energy delivered and received from `since`, oldest first."""
    result = await session.execute(
        select(MeterInterval)
        .join(Meter, Meter.id == MeterInterval.meter_id)
        .where(
            Meter.id == meter_id,
            Meter.organization_id == organization_id,
            MeterInterval.direction.in_(("delivered", "received")),
            MeterInterval.interval_start >= since,
        )
        .order_by(MeterInterval.interval_start)
    )
    return list(result.scalars())
