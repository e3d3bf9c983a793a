"""The partner API's connect operations: flows, links and connection statuses (/v2/connect)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from leap_connect.api.deps import ConnectRead, ConnectWrite
from leap_connect.api.openapi import AUTHENTICATED, problem_responses
from leap_connect.api.params import UtcDateTime
from leap_connect.connect import flows, lifecycle, statuses
from leap_connect.connect.schemas import (
    ConnectSessionOut,
    ConnectSessionPage,
    FlowList,
    LinkOut,
    LinkRequest,
    RevocationOut,
    SessionFilters,
    authorization_out,
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
        meter_id=body.meter_id,
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


@router.post(
    "/authorizations/{authorization_id}/revoke",
    operation_id="revokeAuthorization",
    summary="Revoke a customer's authorization",
    description=(
        "Ends the grant at the utility (ESPI: `DELETE` of its Authorization resource; UtilityAPI: "
        "its revoke call), then here: `200` with `status` `REVOKED`, after "
        "`connect_session.authorization_updated` and, per meter, `meter.authorization.revoked`. "
        "When the utility does not confirm, `202`: Leap Connect keeps trying, and "
        "`revocation_error` says why it has not succeeded yet. Asking again is harmless; an "
        "authorization already ended answers `200` as it is. One that never completed is `409`."
    ),
    response_model=RevocationOut,
    responses={
        202: {"model": RevocationOut, "description": "The utility has not confirmed yet."},
        **problem_responses(*AUTHENTICATED, 404, 409, 422),
    },
)
async def revoke_authorization(
    caller: ConnectWrite,
    session: SessionDep,
    runtime: RuntimeDep,
    authorization_id: uuid.UUID,
    response: Response,
) -> RevocationOut:
    revocation = await lifecycle.revoke_for_partner(
        session,
        organization_id=caller.organization_id,
        authorization_id=authorization_id,
        connectors=runtime.connectors,
        encryptor=runtime.encryptor,
    )
    if not revocation.done:
        response.status_code = 202
    return RevocationOut(
        revoked_at_utility=revocation.done,
        authorization=authorization_out(revocation.authorization, revocation.connect_session),
    )
