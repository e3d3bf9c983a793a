"""Recording the meters an authorization found: one meter per organization, utility and meter ID."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.jobs.service import enqueue
from leap_connect.meters import repository
from leap_connect.meters.schemas import meter_out
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from leap_connect.utilities.connector import DiscoveredMeter
from leap_connect.utilities.registry import UTILITIES, UTILITIES_BY_ID, Protocol
from leap_connect.webhooks.events import record_event

# UtilityAPI gathers a meter's history only when asked: its meters start COLLECTING, and the
# `meters.collect` job (meters/collection.py) asks.
COLLECTION_JOB_KIND = "meters.collect"
COLLECTING_UTILITY_IDS = tuple(u.utility_id for u in UTILITIES if u.protocol is Protocol.UTILITYAPI)


@dataclass(frozen=True, slots=True)
class RecordedMeter:
    meter: Meter
    created: bool


async def record_meters(
    session: AsyncSession,
    *,
    connect_session: ConnectSession,
    authorization: UtilityAuthorization,
    discovered: tuple[DiscoveredMeter, ...],
) -> list[RecordedMeter]:
    """Create or update each meter; re-authorizing a meter never makes a second one."""
    recorded = [
        await _upsert(session, connect_session, authorization, found) for found in discovered
    ]
    if any(r.meter.data_status == "COLLECTING" for r in recorded):
        await enqueue_collection(session, authorization.id)
    return recorded


def collection_dedupe_key(authorization_id: uuid.UUID) -> str:
    return f"{COLLECTION_JOB_KIND}:{authorization_id}"


async def enqueue_collection(session: AsyncSession, authorization_id: uuid.UUID) -> None:
    """Ask for the history of the authorization's COLLECTING meters; written when the caller
    commits, and one job however often it is queued."""
    await enqueue(
        session,
        kind=COLLECTION_JOB_KIND,
        payload={"authorization_id": str(authorization_id)},
        dedupe_key=collection_dedupe_key(authorization_id),
    )


async def _upsert(
    session: AsyncSession,
    connect_session: ConnectSession,
    authorization: UtilityAuthorization,
    found: DiscoveredMeter,
) -> RecordedMeter:
    meter = await repository.get_meter_by_utility_id(
        session, connect_session.organization_id, authorization.utility_id, found.utility_meter_id
    )
    created = meter is None
    if meter is None:
        try:
            # A concurrent callback may insert the same meter first: the savepoint lets us fall
            # back to updating it instead of failing the whole authorization.
            async with session.begin_nested():
                meter = _new_meter(connect_session, authorization, found)
                session.add(meter)
                await session.flush()
        except IntegrityError:
            created = False
            meter = await repository.get_meter_by_utility_id(
                session,
                connect_session.organization_id,
                authorization.utility_id,
                found.utility_meter_id,
            )
            assert meter is not None, "the conflicting meter is visible once its insert committed"
    if not created:
        holder = await repository.get_authorization(session, meter.utility_authorization_id)
        if not _granted_later(holder, authorization):
            _apply(meter, connect_session, authorization, found)
        # Otherwise an older grant is being recorded late (its job ran after the customer had
        # authorized again): the meter stays with the newer grant and only gains this reference.
    await _add_connection_reference(session, meter, connect_session.partner_reference)
    await emit_meter_event(session, meter, created=created)
    return RecordedMeter(meter=meter, created=created)


def _granted_later(holder: UtilityAuthorization | None, other: UtilityAuthorization) -> bool:
    """Whether the grant holding a meter was given after `other`, and still stands."""
    return (
        holder is not None
        and holder.id != other.id
        and holder.status == "COMPLETED"
        and holder.authorized_at is not None
        and other.authorized_at is not None
        and holder.authorized_at > other.authorized_at
    )


def _new_meter(
    connect_session: ConnectSession, authorization: UtilityAuthorization, found: DiscoveredMeter
) -> Meter:
    utility = UTILITIES_BY_ID[authorization.utility_id]
    meter = Meter(
        organization_id=connect_session.organization_id,
        utility_id=utility.utility_id,
        utility_meter_id=found.utility_meter_id,
        transmission_region=utility.transmission_region,
        partner_reference=connect_session.partner_reference,
        created_by="UTILITY",
        is_archived=False,
    )
    _apply(meter, connect_session, authorization, found)
    return meter


def _apply(
    meter: Meter,
    connect_session: ConnectSession,
    authorization: UtilityAuthorization,
    found: DiscoveredMeter,
) -> None:
    if authorization.utility_id in COLLECTING_UTILITY_IDS and (
        meter.usage_point_uri != found.usage_point_uri or meter.data_status is None
    ):
        # A new meter, or one re-authorized under a new UtilityAPI meter: its history is not
        # collected until asked for.
        meter.data_status = "COLLECTING"
        meter.collection_requested_at = None
    meter.utility_authorization_id = authorization.id
    meter.customer_classification = connect_session.customer_type.upper()
    meter.utility_is_required = authorization.utility_id in connect_session.requested_utility_ids
    meter.usage_point_uri = found.usage_point_uri
    meter.electric_service_account_number = found.electric_service_account_number
    meter.customer_account_number = found.customer_account_number
    meter.service_class = found.service_class
    meter.utility_meter_serial_number = found.utility_meter_serial_number
    meter.service_point_id = found.service_point_id
    meter.tariff = found.tariff
    meter.end_customer_name = connect_session.customer_name or found.customer_name
    meter.end_customer_email = connect_session.customer_email
    meter.end_customer_company_name = connect_session.company_name
    meter.street_1 = found.address.street_1
    meter.street_2 = found.address.street_2
    meter.city = found.address.city
    meter.state_or_province_code = found.address.state_or_province_code
    meter.postal_code = found.address.postal_code
    meter.country_code = found.address.country_code
    meter.is_archived = False


async def _add_connection_reference(
    session: AsyncSession, meter: Meter, reference: str | None
) -> None:
    if reference is None or await repository.has_connection_reference(session, meter.id, reference):
        return
    try:
        async with session.begin_nested():
            session.add(
                ConnectionReference(
                    meter_id=meter.id, reference=reference, organization_id=meter.organization_id
                )
            )
            await session.flush()
    except IntegrityError:
        pass  # a concurrent callback recorded the same reference: that is the result we want


async def authorizations_of_meters(
    session: AsyncSession,
    organization_id: uuid.UUID,
    utility_id: str,
    discovered: tuple[DiscoveredMeter, ...],
) -> set[uuid.UUID]:
    """The authorizations the organization's meters among `discovered` come from now."""
    found = set()
    for item in discovered:
        meter = await repository.get_meter_by_utility_id(
            session, organization_id, utility_id, item.utility_meter_id
        )
        if meter is not None:
            found.add(meter.utility_authorization_id)
    return found


async def meter_payload(session: AsyncSession, meter: Meter) -> dict[str, object]:
    """The meter exactly as the API shows it, for webhook payloads."""
    await session.flush()
    authorization = await repository.get_authorization(session, meter.utility_authorization_id)
    assert authorization is not None
    references = await repository.connection_references(session, meter.id)
    return meter_out(
        meter, connection_references=references, authorization=authorization
    ).model_dump(mode="json")


async def emit_meter_event(session: AsyncSession, meter: Meter, *, created: bool) -> None:
    await record_event(
        session,
        organization_id=meter.organization_id,
        event_type="meter.created" if created else "meter.updated",
        payload={"meter": await meter_payload(session, meter)},
    )
