"""The partner API's connect operations: flows, links and connection statuses (/v2/connect)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from leap_connect.api.deps import ConnectRead, ConnectWrite
from leap_connect.api.openapi import AUTHENTICATED, problem_responses
from leap_connect.api.params import UtcDateTime
from leap_connect.connect import flows, statuses
from leap_connect.connect.schemas import (
    ConnectSessionOut,
    ConnectSessionPage,
    FlowList,
    LinkOut,
    LinkRequest,
    SessionFilters,
)
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.link_rules import REF_ID_MAX_LENGTH
from leap_connect.kit.text import Text

router = APIRouter(prefix="/v2/connect", tags=["Connect"])

MAX_PAGE_SIZE = 500


@router.get(
    "/flows",
    operation_id="listFlows",
    summary="List your flows",
    description="Every flow of your organization: what a link to it offers.",
    response_model=FlowList,
    responses=problem_responses(*AUTHENTICATED),
)
async def list_flows(caller: ConnectRead, session: SessionDep, runtime: RuntimeDep) -> FlowList:
    return await flows.list_flows(
        session, organization_id=caller.organization_id, base_url=runtime.settings.base_url
    )


@router.post(
    "/links",
    operation_id="createLink",
    summary="Build a Connect link",
    description=(
        "The link to send a customer, checked exactly as the landing page checks it: a refusal "
        "(422) names each bad field, with the message the landing page would show."
    ),
    response_model=LinkOut,
    responses=problem_responses(400, *AUTHENTICATED, 422),
)
async def create_link(
    caller: ConnectWrite, session: SessionDep, runtime: RuntimeDep, body: LinkRequest
) -> LinkOut:
    return await flows.create_link(
        session,
        organization_id=caller.organization_id,
        base_url=runtime.settings.base_url,
        flow_name=body.flow,
        requested_utilities=body.requested_utilities,
        ref_id=body.ref_id,
    )


@router.get(
    "/sessions",
    operation_id="listConnectSessions",
    summary="List connection statuses",
    description=(
        "Connect sessions newest first, each with its utility authorizations. Pass "
        "`next_page_token` back as `page_token`, with the same filters, for the next page."
    ),
    response_model=ConnectSessionPage,
    responses=problem_responses(400, *AUTHENTICATED, 422),
)
async def list_connect_sessions(
    caller: ConnectRead,
    session: SessionDep,
    runtime: RuntimeDep,
    partner_reference: Annotated[
        Text | None,
        Query(
            min_length=1,
            max_length=REF_ID_MAX_LENGTH,
            description="Sessions opened with this `refId`.",
        ),
    ] = None,
    status: Annotated[Literal["CREATED", "UPDATED", "COMPLETED", "CLOSED"] | None, Query()] = None,
    updated_after: Annotated[
        UtcDateTime | None, Query(description="Sessions changed after this time (ISO 8601).")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    page_token: Annotated[Text | None, Query(max_length=1000)] = None,
) -> ConnectSessionPage:
    return await statuses.list_connect_sessions(
        session,
        organization_id=caller.organization_id,
        filters=SessionFilters(
            partner_reference=partner_reference, status=status, updated_after=updated_after
        ),
        page_size=page_size,
        page_token=page_token,
        secret_key=runtime.secret_key,
    )


@router.get(
    "/sessions/{connect_session_id}",
    operation_id="getConnectSession",
    summary="Get a connection status",
    response_model=ConnectSessionOut,
    responses=problem_responses(*AUTHENTICATED, 404, 422),
)
async def get_connect_session(
    caller: ConnectRead, session: SessionDep, connect_session_id: uuid.UUID
) -> ConnectSessionOut:
    return await statuses.get_connect_session(
        session, organization_id=caller.organization_id, connect_session_id=connect_session_id
    )
