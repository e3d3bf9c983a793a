"""A connect session as partners see it, in the API and in webhook payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from leap_connect.models import ConnectFlow, ConnectSession, UtilityAuthorization


class AuthorizationOut(BaseModel):
    authorization_id: uuid.UUID
    utility_id: str
    status: Literal["INITIATED", "COMPLETED", "FAILED", "REVOKED", "EXPIRED"]
    utility_is_required: bool
    error_code: str | None
    meters_pending: bool
    created_at: datetime
    updated_at: datetime


class ConnectSessionOut(BaseModel):
    connect_session_id: uuid.UUID
    flow: str
    status: Literal["CREATED", "UPDATED", "COMPLETED", "CLOSED"]
    partner_reference: str | None
    customer_type: Literal["residential", "commercial"]
    requested_utilities: list[str]
    created_at: datetime
    last_interaction_date_time_utc: datetime
    completed_at: datetime | None
    closed_at: datetime | None
    authorizations: list[AuthorizationOut]


def authorization_out(
    authorization: UtilityAuthorization, connect_session: ConnectSession
) -> AuthorizationOut:
    return AuthorizationOut(
        authorization_id=authorization.id,
        utility_id=authorization.utility_id,
        status=authorization.status,
        utility_is_required=authorization.utility_id in connect_session.requested_utility_ids,
        error_code=authorization.error_code,
        meters_pending=authorization.meters_pending,
        created_at=authorization.created_at,
        updated_at=authorization.updated_at,
    )


def connect_session_out(
    connect_session: ConnectSession,
    flow: ConnectFlow,
    authorizations: list[UtilityAuthorization],
) -> ConnectSessionOut:
    return ConnectSessionOut(
        connect_session_id=connect_session.id,
        flow=flow.url_friendly_title,
        status=connect_session.status,
        partner_reference=connect_session.partner_reference,
        customer_type=connect_session.customer_type,
        requested_utilities=list(connect_session.requested_utility_ids),
        created_at=connect_session.created_at,
        last_interaction_date_time_utc=connect_session.last_interaction_at,
        completed_at=connect_session.completed_at,
        closed_at=connect_session.closed_at,
        authorizations=[authorization_out(a, connect_session) for a in authorizations],
    )
