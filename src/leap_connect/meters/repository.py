"""Queries for meters, their connection references, their authorizations and stored readings."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    bindparam,
    delete,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, InstrumentedAttribute

from leap_connect.kit.pagination import Position
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from leap_connect.models.meter import MeterInterval, MeterIntervalDay


async def get_authorization(
    session: AsyncSession, authorization_id: uuid.UUID
) -> UtilityAuthorization | None:
    return await session.get(UtilityAuthorization, authorization_id)


async def get_authorization_with_session(
    session: AsyncSession, authorization_id: uuid.UUID
) -> tuple[UtilityAuthorization, ConnectSession] | None:
    """An authorization and the connect session it belongs to, in one round trip."""
    result = await session.execute(
        select(UtilityAuthorization, ConnectSession)
        .join(ConnectSession, ConnectSession.id == UtilityAuthorization.connect_session_id)
        .where(UtilityAuthorization.id == authorization_id)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def list_authorizations_by_utility_ref(
    session: AsyncSession, *, utility_ids: Collection[str], utility_authorization_ref: str
) -> list[UtilityAuthorization]:
    """The attempts a utility's own authorization completed (one, unless a callback was replayed
    into another session)."""
    result = await session.execute(
        select(UtilityAuthorization)
        .where(
            UtilityAuthorization.utility_id.in_(list(utility_ids)),
            UtilityAuthorization.utility_authorization_ref == utility_authorization_ref,
        )
        .order_by(UtilityAuthorization.created_at)
    )
    return list(result.scalars())


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


# A search page is read as plain rows of the columns the API shows, not ORM objects: a page is up
# to 500 meters, each read once.
METER_COLUMNS: Bundle[Any] = Bundle(
    "meter",
    *(
        column
        for column in Meter.__table__.c
        if column.name
        not in {
            "organization_id",
            "utility_meter_id",
            "utility_authorization_id",
            "usage_point_uri",
        }
    ),
)
AUTHORIZATION_COLUMNS: Bundle[Any] = Bundle(
    "authorization",
    UtilityAuthorization.id,
    UtilityAuthorization.status,
    UtilityAuthorization.revoked_at,
    UtilityAuthorization.authorized_at,
    UtilityAuthorization.expires_at,
    UtilityAuthorization.scope_granted,
)


@dataclass(frozen=True, slots=True)
class FoundMeter:
    """A meter's columns and its authorization's, by the attribute names of `Meter` and
    `UtilityAuthorization`."""

    meter: Row[Any]
    authorization: Row[Any]
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
    values = {
        name: value
        for name in _FILTERS
        if (value := getattr(filters, name)) is not None and value is not False
    }
    single = frozenset(name for name in _LISTS if len(values.get(name, ())) == 1)
    statement = _search_statement(frozenset(values), single, paged=after is not None)
    parameters = {"organization_id": organization_id, "limit": limit}
    for name, value in values.items():
        if name != "exclude_archived":
            parameters[name] = value[0] if name in single else value
    if after is not None:
        parameters |= {"after_created_at": after.created_at, "after_id": after.id}
    found: dict[uuid.UUID, FoundMeter] = {}
    for meter, authorization, reference in await session.execute(statement, parameters):
        entry = found.get(meter.id)
        if entry is None:
            entry = found[meter.id] = FoundMeter(meter, authorization, [])
        if reference is not None:
            entry.connection_references.append(reference)
    return list(found.values())


_ORGANIZATION = bindparam("organization_id", type_=Meter.organization_id.type)


def _any_of(column: InstrumentedAttribute[Any], name: str, single: bool) -> ColumnElement[bool]:
    """`column` equal to one of the values of list parameter `name`. A list of one, the usual
    search by one reference, is an `=`: one statement text whatever the value, that PostgreSQL
    plans once per connection, where an `IN (...)` is rendered anew on every execution."""
    if single:
        return column == bindparam(name)
    return column.in_(bindparam(name, expanding=True))


# Each filter as a condition on a bound parameter of its name (given whether a list filter has a
# single value). A search builds the statement for each combination of filters once: building one
# costs more than running it.
_FILTERS: dict[str, Callable[[bool], ColumnElement[bool]]] = {
    "meter_ids": lambda single: _any_of(Meter.id, "meter_ids", single),
    "partner_references": lambda single: _any_of(
        Meter.partner_reference, "partner_references", single
    ),
    # An index lookup on (organization_id, reference), then the meters by primary key.
    "connection_reference_ids": lambda single: Meter.id.in_(
        select(ConnectionReference.meter_id).where(
            ConnectionReference.organization_id == _ORGANIZATION,
            _any_of(ConnectionReference.reference, "connection_reference_ids", single),
        )
    ),
    "utility_ids": lambda single: _any_of(Meter.utility_id, "utility_ids", single),
    "transmission_region": lambda _: Meter.transmission_region == bindparam("transmission_region"),
    "customer_classification": lambda _: (
        Meter.customer_classification == bindparam("customer_classification")
    ),
    "created_after": lambda _: Meter.created_at >= bindparam("created_after"),
    "created_before": lambda _: Meter.created_at < bindparam("created_before"),
    "modified_since": lambda _: Meter.updated_at >= bindparam("modified_since"),
    "exclude_archived": lambda _: Meter.is_archived.is_(False),
}
_LISTS = ("meter_ids", "partner_references", "connection_reference_ids", "utility_ids")


@functools.cache
def _search_statement(
    filters: frozenset[str], single: frozenset[str], *, paged: bool
) -> Select[Any]:
    page = (
        select(Meter.id)
        .where(
            Meter.organization_id == _ORGANIZATION,
            *(condition(name in single) for name, condition in _FILTERS.items() if name in filters),
        )
        .order_by(Meter.created_at.desc(), Meter.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    if paged:
        page = page.where(
            tuple_(Meter.created_at, Meter.id)
            < tuple_(
                bindparam("after_created_at", type_=Meter.created_at.type),
                bindparam("after_id", type_=Meter.id.type),
            )
        )
    in_page = page.subquery()
    return (
        select(METER_COLUMNS, AUTHORIZATION_COLUMNS, ConnectionReference.reference)
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
        .order_by(MeterInterval.interval_start, MeterInterval.direction)
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
    """Store what the utility reported for `[start, end)`, every series, in place of what was."""
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


# --- data collection ------------------------------------------------------------------------------


async def meters_collecting(session: AsyncSession, authorization_id: uuid.UUID) -> list[Meter]:
    """The authorization's meters whose history is still being collected, locked (PostgreSQL)."""
    result = await session.execute(
        select(Meter)
        .where(
            Meter.utility_authorization_id == authorization_id,
            Meter.data_status == "COLLECTING",
        )
        .order_by(Meter.created_at, Meter.id)
        .with_for_update()
    )
    return list(result.scalars())


async def meters_by_usage_point_suffix(
    session: AsyncSession, utility_ids: Sequence[str], suffix: str
) -> list[Meter]:
    """Meters of these utilities whose `usage_point_uri` ends in `suffix`, locked (PostgreSQL)."""
    result = await session.execute(
        select(Meter)
        .where(
            Meter.utility_id.in_(utility_ids),
            Meter.usage_point_uri.endswith(suffix, autoescape=True),
        )
        .with_for_update()
    )
    return list(result.scalars())
