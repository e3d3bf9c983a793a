"""Queries for meters, their connection references and their stored interval readings."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.pagination import Position
from leap_connect.models import ConnectionReference, Meter, UtilityAuthorization
from leap_connect.models.meter import MeterInterval, MeterIntervalDay


async def get_meter_by_utility_id(
    session: AsyncSession, organization_id: uuid.UUID, utility_id: str, utility_meter_id: str
) -> Meter | None:
    result = await session.execute(
        select(Meter).where(
            Meter.organization_id == organization_id,
            Meter.utility_id == utility_id,
            Meter.utility_meter_id == utility_meter_id,
        )
    )
    return result.scalar_one_or_none()


async def list_meters_for_authorizations(
    session: AsyncSession, authorization_ids: list[uuid.UUID]
) -> list[Meter]:
    if not authorization_ids:
        return []
    result = await session.execute(
        select(Meter)
        .where(Meter.utility_authorization_id.in_(authorization_ids))
        .order_by(Meter.created_at, Meter.id)
    )
    return list(result.scalars())


async def connection_references(session: AsyncSession, meter_id: uuid.UUID) -> list[str]:
    result = await session.execute(
        select(ConnectionReference.reference)
        .where(ConnectionReference.meter_id == meter_id)
        .order_by(ConnectionReference.created_at, ConnectionReference.reference)
    )
    return list(result.scalars())


async def has_connection_reference(
    session: AsyncSession, meter_id: uuid.UUID, reference: str
) -> bool:
    result = await session.execute(
        select(ConnectionReference.meter_id).where(
            ConnectionReference.meter_id == meter_id, ConnectionReference.reference == reference
        )
    )
    return result.first() is not None


async def get_meter(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> Meter | None:
    result = await session.execute(
        select(Meter).where(Meter.id == meter_id, Meter.organization_id == organization_id)
    )
    return result.scalar_one_or_none()


async def get_meters(
    session: AsyncSession, organization_id: uuid.UUID, meter_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Meter]:
    if not meter_ids:
        return {}
    result = await session.execute(
        select(Meter).where(Meter.organization_id == organization_id, Meter.id.in_(meter_ids))
    )
    return {meter.id: meter for meter in result.scalars()}


@dataclass(frozen=True, slots=True)
class MeterFilters:
    """A meter search; None is no filter, an empty list matches nothing."""

    meter_ids: Sequence[uuid.UUID] | None = None
    partner_references: Sequence[str] | None = None
    connection_reference_ids: Sequence[str] | None = None
    utility_ids: Sequence[str] | None = None
    transmission_region: str | None = None
    customer_classification: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    modified_since: datetime | None = None
    exclude_archived: bool = False


@dataclass(frozen=True, slots=True)
class FoundMeter:
    meter: Meter
    authorization: UtilityAuthorization
    connection_references: list[str]


async def search_meters(
    session: AsyncSession,
    organization_id: uuid.UUID,
    filters: MeterFilters,
    *,
    after: Position | None,
    limit: int,
) -> list[FoundMeter]:
    """Newest first by `(created_at, id)`, starting after `after`: the order an index keeps.

    One statement a page: the page's meters, then each with its authorization and its connection
    references joined in.
    """
    page = (
        select(Meter.id)
        .where(
            Meter.organization_id == organization_id,
            *_conditions(filters),
            *_connection_reference_filter(organization_id, filters.connection_reference_ids),
        )
        .order_by(Meter.created_at.desc(), Meter.id.desc())
        .limit(limit)
    )
    if after is not None:
        page = page.where(tuple_(Meter.created_at, Meter.id) < (after.created_at, after.id))
    in_page = page.subquery()
    query = (
        select(Meter, UtilityAuthorization, ConnectionReference.reference)
        .join(in_page, in_page.c.id == Meter.id)
        .join(UtilityAuthorization, Meter.utility_authorization_id == UtilityAuthorization.id)
        .outerjoin(ConnectionReference, ConnectionReference.meter_id == Meter.id)
        .order_by(
            Meter.created_at.desc(),
            Meter.id.desc(),
            ConnectionReference.created_at,
            ConnectionReference.reference,
        )
    )
    found: dict[uuid.UUID, FoundMeter] = {}
    for meter, authorization, reference in await session.execute(query):
        entry = found.get(meter.id)
        if entry is None:
            entry = found[meter.id] = FoundMeter(meter, authorization, [])
        if reference is not None:
            entry.connection_references.append(reference)
    return list(found.values())


def _conditions(filters: MeterFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.meter_ids is not None:
        conditions.append(Meter.id.in_(filters.meter_ids))
    if filters.partner_references is not None:
        conditions.append(Meter.partner_reference.in_(filters.partner_references))
    if filters.utility_ids is not None:
        conditions.append(Meter.utility_id.in_(filters.utility_ids))
    if filters.transmission_region is not None:
        conditions.append(Meter.transmission_region == filters.transmission_region)
    if filters.customer_classification is not None:
        conditions.append(Meter.customer_classification == filters.customer_classification)
    if filters.created_after is not None:
        conditions.append(Meter.created_at >= filters.created_after)
    if filters.created_before is not None:
        conditions.append(Meter.created_at < filters.created_before)
    if filters.modified_since is not None:
        conditions.append(Meter.updated_at >= filters.modified_since)
    if filters.exclude_archived:
        conditions.append(Meter.is_archived.is_(False))
    return conditions


def _connection_reference_filter(
    organization_id: uuid.UUID, references: Sequence[str] | None
) -> list[ColumnElement[bool]]:
    if references is None:
        return []
    # An index lookup on (organization_id, reference), then the meters by primary key.
    connected = select(ConnectionReference.meter_id).where(
        ConnectionReference.organization_id == organization_id,
        ConnectionReference.reference.in_(references),
    )
    return [Meter.id.in_(connected)]


async def connection_references_of(
    session: AsyncSession, meter_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Each meter's connection references, oldest first (every meter has an entry)."""
    found: dict[uuid.UUID, list[str]] = {meter_id: [] for meter_id in meter_ids}
    if not meter_ids:
        return found
    result = await session.execute(
        select(ConnectionReference.meter_id, ConnectionReference.reference)
        .where(ConnectionReference.meter_id.in_(meter_ids))
        .order_by(ConnectionReference.created_at, ConnectionReference.reference)
    )
    for meter_id, reference in result:
        found[meter_id].append(reference)
    return found


async def authorizations_by_id(
    session: AsyncSession, authorization_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, UtilityAuthorization]:
    if not authorization_ids:
        return {}
    result = await session.execute(
        select(UtilityAuthorization).where(UtilityAuthorization.id.in_(authorization_ids))
    )
    return {authorization.id: authorization for authorization in result.scalars()}


# --- interval readings --------------------------------------------------------------------------


async def stored_interval_days(
    session: AsyncSession, meter_id: uuid.UUID, first_day: date, last_day: date
) -> set[date]:
    result = await session.execute(
        select(MeterIntervalDay.day).where(
            MeterIntervalDay.meter_id == meter_id,
            MeterIntervalDay.day >= first_day,
            MeterIntervalDay.day <= last_day,
        )
    )
    return set(result.scalars())


async def stored_intervals(
    session: AsyncSession, meter_id: uuid.UUID, start: datetime, end: datetime
) -> list[MeterInterval]:
    result = await session.execute(
        select(MeterInterval)
        .where(
            MeterInterval.meter_id == meter_id,
            MeterInterval.interval_start >= start,
            MeterInterval.interval_start < end,
        )
        .order_by(MeterInterval.interval_start)
    )
    return list(result.scalars())


async def replace_intervals(
    session: AsyncSession,
    meter_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    intervals: Sequence[MeterInterval],
    days: Sequence[MeterIntervalDay],
) -> None:
    """Store what the utility reported for `[start, end)` in place of what was stored."""
    await session.execute(
        delete(MeterInterval).where(
            MeterInterval.meter_id == meter_id,
            MeterInterval.interval_start >= start,
            MeterInterval.interval_start < end,
        )
    )
    session.add_all(intervals)
    session.add_all(days)
    await session.flush()


async def lock_authorization(
    session: AsyncSession, authorization_id: uuid.UUID
) -> UtilityAuthorization | None:
    """The authorization, locked until the transaction ends (PostgreSQL): one refresh at a time."""
    result = await session.execute(
        select(UtilityAuthorization)
        .where(UtilityAuthorization.id == authorization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
