"""The Developers tab's logic: the organization's API keys, and webhook endpoints set from forms.

Endpoints are created and changed through the partner API's service (`webhooks/service.py`), so a
URL the portal refuses is one the API refuses too; here the refusals become per-field messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import get_args

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.broadcast import Broadcast
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.problems import NotFound, ValidationFailed
from leap_connect.models import ApiKey, WebhookEndpoint
from leap_connect.organizations import service as organizations_service
from leap_connect.portal import repository
from leap_connect.webhooks import service as webhooks_service
from leap_connect.webhooks.schemas import EventType, WebhookEndpointIn

EVENT_TYPES: tuple[str, ...] = get_args(EventType)
NO_EVENT_TYPE = "Choose at least one event type."
URL_UNREADABLE = "Give the endpoint's URL (https, at most 2000 characters)."


class EndpointInvalid(Exception):
    """The endpoint form's fields break a rule; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# --- API keys -------------------------------------------------------------------------------------


async def list_api_keys(session: AsyncSession, organization_id: uuid.UUID) -> list[ApiKey]:
    """The organization's keys, those still working first, newest first."""
    return await repository.list_api_keys(session, organization_id)


async def get_api_key(
    session: AsyncSession, organization_id: uuid.UUID, api_key_id: uuid.UUID
) -> ApiKey:
    api_key = await repository.get_api_key(session, organization_id, api_key_id)
    if api_key is None:
        raise NotFound("There is no API key with this ID.")
    return api_key


async def revoke_api_key(
    session: AsyncSession, broadcast: Broadcast, organization_id: uuid.UUID, api_key_id: uuid.UUID
) -> None:
    api_key = await get_api_key(session, organization_id, api_key_id)
    organizations_service.revoke_api_key(api_key, broadcast)


# --- webhook endpoints ----------------------------------------------------------------------------


async def create_webhook_endpoint(
    session: AsyncSession,
    encryptor: Encryptor,
    *,
    organization_id: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    development: bool,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (shown once); raises EndpointInvalid."""
    data = _endpoint_in(url, event_types)
    try:
        return await webhooks_service.create_endpoint(
            session,
            encryptor,
            organization_id=organization_id,
            data=data,
            development=development,
        )
    except ValidationFailed as invalid:
        raise EndpointInvalid({"url": str(invalid.detail)}) from None


async def update_webhook_endpoint(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    enabled: bool,
    development: bool,
) -> WebhookEndpoint:
    """The endpoint with the form's settings (its static headers kept); raises EndpointInvalid."""
    await webhooks_service.get_endpoint(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    data = _endpoint_in(url, event_types, enabled=enabled)
    try:
        return await webhooks_service.update_endpoint_keeping_headers(
            session,
            organization_id=organization_id,
            endpoint_id=endpoint_id,
            data=data,
            development=development,
        )
    except ValidationFailed as invalid:
        raise EndpointInvalid({"url": str(invalid.detail)}) from None


def _endpoint_in(
    url: str, event_types: Sequence[str], *, enabled: bool = True
) -> WebhookEndpointIn:
    if not event_types:
        raise EndpointInvalid({"event_type": NO_EVENT_TYPE})
    try:
        return WebhookEndpointIn.model_validate(
            {
                "url": url,
                "event_types": list(event_types),
                "enabled": enabled,
            }
        )
    except PydanticValidationError:
        raise EndpointInvalid({"url": URL_UNREADABLE}) from None
