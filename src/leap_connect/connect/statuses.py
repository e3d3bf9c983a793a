"""Connection statuses as partners read them: one connect session, or a page of them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import repository
from leap_connect.connect.schemas import (
    ConnectSessionOut,
    ConnectSessionPage,
    SessionFilters,
    connect_session_out,
)
from leap_connect.kit.pagination import (
    Position,
    decode_page_token,
    next_page_token,
    page_of,
    search_fingerprint,
)
from leap_connect.kit.problems import NotFound
from leap_connect.models import ConnectFlow, ConnectSession

PAGE_KIND = "connect_sessions"


async def get_connect_session(
    session: AsyncSession, *, organization_id: uuid.UUID, connect_session_id: uuid.UUID
) -> ConnectSessionOut:
    connect_session = await repository.get_connect_session(
        session, organization_id, connect_session_id
    )
    if connect_session is None:
        raise NotFound("There is no connect session with this ID.")
    return (await _present(session, [connect_session]))[0]


async def list_connect_sessions(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    filters: SessionFilters,
    page_size: int,
    page_token: str | None,
    secret_key: str,
) -> ConnectSessionPage:
    fingerprint = search_fingerprint(
        {
            "partner_reference": filters.partner_reference,
            "status": filters.status,
            "updated_after": filters.updated_after.isoformat() if filters.updated_after else None,
        }
    )
    after = (
        decode_page_token(
            page_token,
            secret_key,
            kind=PAGE_KIND,
            organization_id=organization_id,
            fingerprint=fingerprint,
        )
        if page_token
        else None
    )
    rows = await repository.search_connect_sessions(
        session, organization_id, filters, after=after, limit=page_size + 1
    )
    page = page_of(rows, page_size, lambda row: Position(row.created_at, row.id))
    next_token = next_page_token(
        secret_key, page, kind=PAGE_KIND, organization_id=organization_id, fingerprint=fingerprint
    )
    return ConnectSessionPage(
        connect_sessions=await _present(session, page.items), next_page_token=next_token
    )


async def _present(
    session: AsyncSession, connect_sessions: Sequence[ConnectSession]
) -> list[ConnectSessionOut]:
    flows: dict[uuid.UUID, ConnectFlow] = await repository.flows_by_id(
        session, {item.flow_id for item in connect_sessions}
    )
    authorizations = await repository.authorizations_of(
        session, [item.id for item in connect_sessions]
    )
    return [
        connect_session_out(item, flows[item.flow_id], authorizations[item.id])
        for item in connect_sessions
    ]
