"""Queries for terms documents, agreements and the instance's signing key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import (
    Agreement,
    AgreementMeter,
    Document,
    Meter,
    SigningKey,
    UtilityAuthorization,
)

# --- documents ------------------------------------------------------------------------------------


async def list_current_documents(
    session: AsyncSession, flow_id: uuid.UUID, customer_type: str | None = None
) -> list[Document]:
    """The documents a flow requires now, per customer type in the order the partner gave."""
    query = select(Document).where(Document.flow_id == flow_id, Document.is_current.is_(True))
    if customer_type is not None:
        query = query.where(Document.customer_type == customer_type)
    result = await session.execute(
        query.order_by(Document.customer_type, Document.position, Document.slug)
    )
    return list(result.scalars())


async def list_all_versions(session: AsyncSession, flow_id: uuid.UUID) -> list[Document]:
    result = await session.execute(
        select(Document)
        .where(Document.flow_id == flow_id)
        .order_by(Document.customer_type, Document.slug, Document.version)
    )
    return list(result.scalars())


async def customer_types_with_terms(session: AsyncSession, flow_id: uuid.UUID) -> list[str]:
    result = await session.execute(
        select(Document.customer_type)
        .where(Document.flow_id == flow_id, Document.is_current.is_(True))
        .distinct()
        .order_by(Document.customer_type)
    )
    return list(result.scalars())


# --- agreements -----------------------------------------------------------------------------------


async def list_session_agreements(
    session: AsyncSession, connect_session_id: uuid.UUID
) -> list[tuple[Agreement, Document]]:
    result = await session.execute(
        select(Agreement, Document)
        .join(Document, Document.id == Agreement.document_id)
        .where(Agreement.connect_session_id == connect_session_id)
        .order_by(Agreement.signed_at)
    )
    return [(agreement, document) for agreement, document in result.all()]


async def get_agreement(
    session: AsyncSession, organization_id: uuid.UUID, agreement_id: uuid.UUID
) -> tuple[Agreement, Document] | None:
    result = await session.execute(
        select(Agreement, Document)
        .join(Document, Document.id == Agreement.document_id)
        .where(Agreement.id == agreement_id, Agreement.organization_id == organization_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def list_meter_agreements(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> list[tuple[Agreement, Document]]:
    """Agreements covering a meter, newest first: those signed in the session of the meter's
    authorization (meters found after the signing too), and any linked to it when signed."""
    meter_session = (
        select(UtilityAuthorization.connect_session_id)
        .join(Meter, Meter.utility_authorization_id == UtilityAuthorization.id)
        .where(Meter.id == meter_id, Meter.organization_id == organization_id)
        .scalar_subquery()
    )
    linked = select(AgreementMeter.agreement_id).where(AgreementMeter.meter_id == meter_id)
    result = await session.execute(
        select(Agreement, Document)
        .join(Document, Document.id == Agreement.document_id)
        .where(
            Agreement.organization_id == organization_id,
            or_(Agreement.connect_session_id == meter_session, Agreement.id.in_(linked)),
        )
        .order_by(Agreement.signed_at.desc(), Agreement.id)
    )
    return [(agreement, document) for agreement, document in result.all()]


def add_agreement_meters(
    session: AsyncSession, agreement_id: uuid.UUID, meter_ids: Sequence[uuid.UUID]
) -> None:
    session.add_all(
        AgreementMeter(agreement_id=agreement_id, meter_id=meter_id) for meter_id in meter_ids
    )


# --- signing key ----------------------------------------------------------------------------------


async def get_signing_key(session: AsyncSession, name: str) -> SigningKey | None:
    result = await session.execute(select(SigningKey).where(SigningKey.name == name))
    return result.scalar_one_or_none()
