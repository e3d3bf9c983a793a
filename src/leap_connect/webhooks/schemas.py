"""Webhook endpoints and their delivery log as partners see them in the API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator

from leap_connect.kit.text import RequestModel
from leap_connect.webhooks.delivery import RESERVED_HEADERS
from leap_connect.webhooks.events import EVENT_TYPES

EventType = Literal[
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.created",
    "meter.updated",
    "meter.partner_reference.updated",
    "meter.data_ready",
    "meter.authorization.revoked",
    "agreement.signed",
]
assert set(get_args(EventType)) == set(EVENT_TYPES), "EventType must list EVENT_TYPES"

DeliveryStatus = Literal["PENDING", "SUCCEEDED", "FAILED"]

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
MAX_STATIC_HEADERS = 20


class WebhookEndpointIn(RequestModel):
    """What a partner sets on an endpoint: on creation, and in full on every PUT."""

    url: str = Field(
        max_length=2000,
        description="Where events are POSTed: https, to a public address.",
        examples=["https://partner.example/webhooks/leap-connect"],
    )
    event_types: list[EventType] = Field(
        min_length=1, description="The event types to send to this endpoint."
    )
    enabled: bool = Field(
        default=True, description="Disabled endpoints get no events (and pending ones fail)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Static headers sent with every delivery, e.g. for your own gateway; stored "
        "encrypted. They cannot be named like a header Leap Connect sets: "
        + ", ".join(f"`{name}`" for name in sorted(RESERVED_HEADERS))
        + ".",
        examples=[{"X-Partner-Gateway-Key": "..."}],
    )

    @field_validator("event_types")
    @classmethod
    def _unique_event_types(cls, value: list[EventType]) -> list[EventType]:
        return list(dict.fromkeys(value))

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_STATIC_HEADERS:
            raise ValueError(f"at most {MAX_STATIC_HEADERS} headers")
        seen: set[str] = set()
        for name, header_value in value.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f'"{name}" is not a valid header name')
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(
                    f'"{name}" is set by Leap Connect on every delivery and cannot be a static '
                    "header (reserved: " + ", ".join(sorted(RESERVED_HEADERS)) + ")"
                )
            if name.lower() in seen:
                raise ValueError(f'"{name}" is given twice (header names ignore case)')
            seen.add(name.lower())
            if len(header_value) > 1000 or any(
                ord(char) < 0x20 or ord(char) == 0x7F for char in header_value
            ):
                raise ValueError(
                    f'the value of "{name}" must be at most 1000 characters, with no control '
                    "characters"
                )
        return value


class WebhookEndpointOut(BaseModel):
    webhook_endpoint_id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    headers: dict[str, str]
    disabled_reason: str | None = Field(
        description="Why Leap Connect disabled the endpoint, when it did (re-enable with PUT)."
    )
    failing_since: datetime | None = Field(
        description="Since when every delivery has failed; disabled after 3 days of that."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until when deliveries are also signed with the secret before the last "
        "rotation."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="The signing secret (`whsec_...`). Shown only this once.")


class WebhookEndpointList(BaseModel):
    webhook_endpoints: list[WebhookEndpointOut]


class RotatedSecret(BaseModel):
    secret: str = Field(description="The new signing secret. Shown only this once.")
    previous_secret_expires_at: datetime = Field(
        description="Until then every delivery carries signatures with both secrets."
    )


class DeliveryAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    duration_ms: int
    error: str | None = Field(description="Why the attempt failed; null when it succeeded.")


class DeliveryOut(BaseModel):
    delivery_id: uuid.UUID
    webhook_event_id: uuid.UUID
    webhook_event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any] = Field(description="The event's `payload`, as sent.")
    attempts: list[DeliveryAttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="Newest first.")
    next_page_token: str | None
