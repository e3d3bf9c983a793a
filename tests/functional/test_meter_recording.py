"""The meters one authorization finds are recorded together: all of them, or none."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from leap_connect.db import transaction
from leap_connect.meters.service import record_meters
from leap_connect.models import ConnectSession, Meter, UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import DiscoveredMeter
from tests.support.factories import create_partner

DISCOVERED = tuple(DiscoveredMeter(utility_meter_id=f"pge-meter-{n}") for n in range(3))


class UtilityGaveUp(Exception):
    """What a step after recording the meters raises, e.g. the utility failing mid-discovery."""


async def completed_authorization(
    runtime: Runtime,
) -> tuple[ConnectSession, UtilityAuthorization]:
    partner = await create_partner(runtime)
    now = utc_now()
    async with transaction(runtime.sessionmaker) as session:
        connect_session = ConnectSession(
            organization_id=partner.organization.id,
            flow_id=partner.flow.id,
            partner_reference="cust-1",
            requested_utility_ids=["pge"],
            customer_type="residential",
            status="UPDATED",
            browser_binding_hmac="0" * 64,
            last_interaction_at=now,
        )
        session.add(connect_session)
        await session.flush()
        authorization = UtilityAuthorization(
            organization_id=partner.organization.id,
            connect_session_id=connect_session.id,
            utility_id="pge",
            status="COMPLETED",
            state_hmac=uuid.uuid4().hex,
            state_expires_at=now,
            authorized_at=now,
        )
        session.add(authorization)
    return connect_session, authorization


async def meters_of(runtime: Runtime, authorization: UtilityAuthorization) -> int:
    """How many meters of the authorization another connection sees."""
    async with runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Meter)
            .where(Meter.utility_authorization_id == authorization.id)
        )
    assert count is not None
    return count


async def test_no_meter_is_visible_until_the_whole_authorization_is_recorded(
    runtime: Runtime,
) -> None:
    connect_session, authorization = await completed_authorization(runtime)

    async with transaction(runtime.sessionmaker) as session:
        recorded = await record_meters(
            session,
            connect_session=connect_session,
            authorization=authorization,
            discovered=DISCOVERED,
        )
        assert [item.created for item in recorded] == [True, True, True]
        assert await meters_of(runtime, authorization) == 0

    assert await meters_of(runtime, authorization) == 3


async def test_a_failure_after_some_meters_were_recorded_keeps_none_of_them(
    runtime: Runtime,
) -> None:
    connect_session, authorization = await completed_authorization(runtime)

    with pytest.raises(UtilityGaveUp):
        async with transaction(runtime.sessionmaker) as session:
            await record_meters(
                session,
                connect_session=connect_session,
                authorization=authorization,
                discovered=DISCOVERED[:2],
            )
            raise UtilityGaveUp

    assert await meters_of(runtime, authorization) == 0
    # Asked again, the utility lists every meter: each is new, none left over from the failure.
    async with transaction(runtime.sessionmaker) as session:
        again = await record_meters(
            session,
            connect_session=connect_session,
            authorization=authorization,
            discovered=DISCOVERED,
        )
    assert [item.created for item in again] == [True, True, True]
