"""Connect sessions, flows and links as partners see them, in the API and in webhook payloads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from leap_connect.kit.link_rules import REF_ID_MAX_LENGTH
from leap_connect.kit.text import RequestModel
from leap_connect.models import ConnectFlow, ConnectSession, UtilityAuthorization
from leap_connect.utilities.registry import UTILITY_IDS


class AuthorizationOut(BaseModel):
    authorization_id: uuid.UUID
    utility_id: str
    status: Literal["INITIATED", "COMPLETED", "FAILED", "REVOKED", "EXPIRED"]
    utility_is_required: bool
    error_code: str | None
    meters_pending: bool
    expires_at: datetime | None = Field(
        default=None, description="When the customer's permission ends, as the utility says."
    )
    revoked_at: datetime | None = None
    revocation_requested_at: datetime | None = Field(
        default=None,
        description="When you asked to revoke it; until the utility confirms, "
        "`revocation_error` says why it has not yet (Leap Connect keeps trying).",
    )
    revocation_error: str | None = None
    created_at: datetime
    updated_at: datetime


class RevocationOut(BaseModel):
    """A revocation: done (`status` REVOKED or EXPIRED), or still waiting for the utility."""

    revoked_at_utility: bool
    authorization: AuthorizationOut


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
        expires_at=authorization.expires_at,
        revoked_at=authorization.revoked_at,
        revocation_requested_at=authorization.revocation_requested_at,
        revocation_error=authorization.revocation_error,
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


class FlowOut(BaseModel):
    flow: str = Field(description="The flow's URL-friendly title: the last part of its links.")
    title: str
    transmission_region: str
    utilities: list[str] = Field(description="The utility IDs the flow offers.")
    customer_types: list[str]
    enabled: bool
    thank_you_url: str
    url: str = Field(description="The flow's link with no parameters.")


class FlowList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "flows": [
                    {
                        "flow": "ca-homes",
                        "title": "California homes",
                        "transmission_region": "CAISO",
                        "utilities": ["pge", "sce", "sdge"],
                        "customer_types": ["residential", "commercial"],
                        "enabled": True,
                        "thank_you_url": "https://acme.example/thanks",
                        "url": "https://connect.example/acme/ca-homes",
                    }
                ]
            }
        }
    )

    flows: list[FlowOut]


class LinkRequest(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"flow": "ca-homes", "requested_utilities": ["pge"], "ref_id": "cust-123"},
                {"flow": "ca-homes"},
            ]
        },
    )

    flow: str = Field(description="The flow's URL-friendly title.", max_length=200)
    requested_utilities: list[
        Annotated[str, WithJsonSchema({"type": "string", "enum": list(UTILITY_IDS)})]
    ] = Field(
        default_factory=list,
        max_length=20,
        description="Utility IDs the customer must connect; empty: every utility the flow offers.",
    )
    ref_id: Annotated[
        str | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "maxLength": REF_ID_MAX_LENGTH, "pattern": "^[ -~]*$"},
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(
        None,
        description="Your Reference ID for this customer (1–255 printable ASCII characters); "
        "their meters carry it as `partner_reference`.",
    )
    meter_id: uuid.UUID | None = Field(
        None,
        description="A renewal link for this meter's customer, after its authorization was "
        "revoked or expired: `requested_utilities` defaults to the meter's utility and `ref_id` "
        "to its `partner_reference`. When the customer authorizes again the meter keeps its "
        "`meter_id`.",
    )


class LinkOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "url": "https://connect.example/acme/ca-homes?requestedUtilities=pge&refId=cust-123",
                "flow": "ca-homes",
                "requested_utilities": ["pge"],
                "ref_id": "cust-123",
            }
        }
    )

    url: str
    flow: str
    requested_utilities: list[str] = Field(description="As the link carries them; may be empty.")
    ref_id: str | None


class ConnectSessionPage(BaseModel):
    connect_sessions: list[ConnectSessionOut] = Field(description="Newest first.")
    next_page_token: str | None = Field(
        description="Pass it as `page_token` for the next page; null on the last page."
    )


@dataclass(frozen=True, slots=True)
class SessionFilters:
    """What a partner filters connection statuses by (in the API and the portal)."""

    partner_reference: str | None = None
    status: str | None = None
    updated_after: datetime | None = None
