"""Recording the meters an authorization found: one meter per organization, utility and meter ID."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.meters import repository
from leap_connect.meters.schemas import meter_out
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from leap_connect.utilities.connector import DiscoveredMeter
from leap_connect.utilities.registry import UTILITIES_BY_ID
from leap_connect.webhooks.events import record_event


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
    return [await _upsert(session, connect_session, authorization, found) for found in discovered]


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
        _apply(meter, connect_session, authorization, found)
    await _add_connection_reference(session, meter, connect_session.partner_reference)
    await emit_meter_event(session, meter, created=created)
    return RecordedMeter(meter=meter, created=created)


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
    meter.utility_authorization_id = authorization.id
    meter.customer_classification = connect_session.customer_type.upper()
    meter.utility_is_required = authorization.utility_id in connect_session.requested_utility_ids
    meter.usage_point_uri = found.usage_point_uri
    meter.electric_service_account_number = found.electric_service_account_number
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
