"""Queries for meters and their connection references."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import ConnectionReference, Meter


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
