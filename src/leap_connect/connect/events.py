"""The webhook events the journey emits, written in the journey's own transactions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import repository
from leap_connect.connect.schemas import authorization_out, connect_session_out
from leap_connect.models import ConnectSession, UtilityAuthorization
from leap_connect.webhooks.events import record_event


async def session_updated(session: AsyncSession, connect_session: ConnectSession) -> None:
    await session.flush()
    flow = await repository.get_flow_by_id(session, connect_session.flow_id)
    assert flow is not None
    authorizations = await repository.list_authorizations(session, connect_session.id)
    payload = connect_session_out(connect_session, flow, authorizations)
    await record_event(
        session,
        organization_id=connect_session.organization_id,
        event_type="connect_session.updated",
        payload={"connect_session": payload.model_dump(mode="json")},
    )


async def authorization_updated(
    session: AsyncSession, connect_session: ConnectSession, authorization: UtilityAuthorization
) -> None:
    await session.flush()
    await record_event(
        session,
        organization_id=connect_session.organization_id,
        event_type="connect_session.authorization_updated",
        payload={
            "connect_session_id": str(connect_session.id),
            "partner_reference": connect_session.partner_reference,
            "authorization": authorization_out(authorization, connect_session).model_dump(
                mode="json"
            ),
        },
    )
