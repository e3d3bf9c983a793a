"""The partner API's connect operations: flows, links checked like the landing page, statuses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import api_repository, repository
from leap_connect.connect.api_schemas import ConnectSessionPage, FlowList, FlowOut, LinkOut
from leap_connect.connect.links import (
    LinkError,
    build_link,
    parse_ref_id,
    utilities_named_in_link,
)
from leap_connect.connect.schemas import ConnectSessionOut, connect_session_out
from leap_connect.kit.pagination import (
    Position,
    decode_page_token,
    next_page_token,
    page_of,
    search_fingerprint,
)
from leap_connect.kit.problems import NotFound, ValidationFailed
from leap_connect.models import ConnectFlow, ConnectSession
from leap_connect.organizations import repository as organizations_repository

PAGE_KIND = "connect_sessions"


async def list_flows(
    session: AsyncSession, *, organization_id: uuid.UUID, base_url: str
) -> FlowList:
    organization = await organizations_repository.get_organization(session, organization_id)
    assert organization is not None
    flows = await repository.list_flows(session, organization_id)
    return FlowList(
        flows=[
            FlowOut(
                flow=flow.url_friendly_title,
                title=flow.title,
                transmission_region=flow.transmission_region,
                utilities=list(flow.utility_ids),
                customer_types=list(flow.customer_types),
                enabled=flow.enabled,
                thank_you_url=flow.thank_you_url,
                url=build_link(base_url, organization.name, flow.url_friendly_title),
            )
            for flow in flows
        ]
    )


async def create_link(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    base_url: str,
    flow_name: str,
    requested_utilities: Sequence[str],
    ref_id: str | None,
) -> LinkOut:
    """A Connect link, refused (422, naming each bad field) where the landing page would refuse."""
    organization = await organizations_repository.get_organization(session, organization_id)
    assert organization is not None
    flow = await repository.get_flow(session, organization_id, flow_name)
    errors: list[dict[str, str]] = []
    requested: tuple[str, ...] = ()
    if flow is None or not flow.enabled:
        errors.append(
            {
                "field": "flow",
                "message": f'{organization.name} has no enabled flow named "{flow_name}".',
            }
        )
    else:
        try:
            requested = utilities_named_in_link(requested_utilities, offered=flow.utility_ids)
        except LinkError as error:
            errors.append({"field": "requested_utilities", "message": error.message})
    reference: str | None = None
    try:
        reference = parse_ref_id(ref_id)
    except LinkError as error:
        errors.append({"field": "ref_id", "message": error.message})
    if errors or flow is None:
        raise ValidationFailed(" ".join(error["message"] for error in errors), errors=errors)
    url = build_link(
        base_url,
        organization.name,
        flow.url_friendly_title,
        requested_utilities=requested,
        ref_id=reference,
    )
    return LinkOut(
        url=url, flow=flow.url_friendly_title, requested_utilities=list(requested), ref_id=reference
    )


async def get_connect_session(
    session: AsyncSession, *, organization_id: uuid.UUID, connect_session_id: uuid.UUID
) -> ConnectSessionOut:
    connect_session = await api_repository.get_connect_session(
        session, organization_id, connect_session_id
    )
    if connect_session is None:
        raise NotFound("There is no connect session with this ID.")
    return (await _present(session, [connect_session]))[0]


async def list_connect_sessions(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    filters: api_repository.SessionFilters,
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
    rows = await api_repository.search_connect_sessions(
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
    flows: dict[uuid.UUID, ConnectFlow] = await api_repository.flows_by_id(
        session, {item.flow_id for item in connect_sessions}
    )
    authorizations = await api_repository.authorizations_of(
        session, [item.id for item in connect_sessions]
    )
    return [
        connect_session_out(item, flows[item.flow_id], authorizations[item.id])
        for item in connect_sessions
    ]
