"""The partner API's webhook endpoints and their delivery log (/v2/webhooks)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from leap_connect.api.deps import WebhooksManage
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.text import Text
from leap_connect.webhooks import service
from leap_connect.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
    RotatedSecret,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointList,
    WebhookEndpointOut,
)

router = APIRouter(prefix="/v2/webhooks", tags=["webhooks"])


@router.get("", summary="List webhook endpoints")
async def list_webhook_endpoints(
    caller: WebhooksManage, session: SessionDep, runtime: RuntimeDep
) -> WebhookEndpointList:
    endpoints = await service.list_endpoints(session, organization_id=caller.organization_id)
    return WebhookEndpointList(
        webhook_endpoints=[service.endpoint_out(e, runtime.encryptor) for e in endpoints]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a webhook endpoint",
    description="The answer carries the endpoint's signing secret (`whsec_...`), shown only once.",
)
async def create_webhook_endpoint(
    body: WebhookEndpointIn,
    caller: WebhooksManage,
    session: SessionDep,
    runtime: RuntimeDep,
) -> WebhookEndpointCreated:
    endpoint, secret = await service.create_endpoint(
        session,
        runtime.encryptor,
        organization_id=caller.organization_id,
        data=body,
        development=runtime.settings.is_development,
    )
    out = service.endpoint_out(endpoint, runtime.encryptor)
    return WebhookEndpointCreated(**out.model_dump(), secret=secret)


@router.get("/{webhook_endpoint_id}", summary="Get a webhook endpoint")
async def get_webhook_endpoint(
    webhook_endpoint_id: uuid.UUID, caller: WebhooksManage, session: SessionDep, runtime: RuntimeDep
) -> WebhookEndpointOut:
    endpoint = await service.get_endpoint(
        session, organization_id=caller.organization_id, endpoint_id=webhook_endpoint_id
    )
    return service.endpoint_out(endpoint, runtime.encryptor)


@router.put(
    "/{webhook_endpoint_id}",
    summary="Replace a webhook endpoint's settings",
    description="Enabling an endpoint Leap Connect disabled clears why it was disabled.",
)
async def replace_webhook_endpoint(
    webhook_endpoint_id: uuid.UUID,
    body: WebhookEndpointIn,
    caller: WebhooksManage,
    session: SessionDep,
    runtime: RuntimeDep,
) -> WebhookEndpointOut:
    endpoint = await service.replace_endpoint(
        session,
        runtime.encryptor,
        organization_id=caller.organization_id,
        endpoint_id=webhook_endpoint_id,
        data=body,
        development=runtime.settings.is_development,
    )
    return service.endpoint_out(endpoint, runtime.encryptor)


@router.delete(
    "/{webhook_endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint and its delivery log",
    description="The endpoint is gone at once; its delivery log is removed soon after.",
)
async def delete_webhook_endpoint(
    webhook_endpoint_id: uuid.UUID, caller: WebhooksManage, session: SessionDep
) -> Response:
    await service.delete_endpoint(
        session, organization_id=caller.organization_id, endpoint_id=webhook_endpoint_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_endpoint_id}/rotate-secret",
    summary="Rotate the signing secret",
    description="The new secret is shown only once. For 24 hours every delivery carries two "
    "signatures, one with each secret, so receivers can switch over without missing one.",
)
async def rotate_webhook_secret(
    webhook_endpoint_id: uuid.UUID,
    caller: WebhooksManage,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RotatedSecret:
    secret, expires_at = await service.rotate_secret(
        session,
        runtime.encryptor,
        organization_id=caller.organization_id,
        endpoint_id=webhook_endpoint_id,
    )
    return RotatedSecret(secret=secret, previous_secret_expires_at=expires_at)


@router.post(
    "/{webhook_endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a ping event",
    description="Queues a `ping` event to this endpoint; follow it in the delivery log.",
)
async def send_test_webhook(
    webhook_endpoint_id: uuid.UUID, caller: WebhooksManage, session: SessionDep
) -> DeliveryOut:
    delivery = await service.send_test_event(
        session, organization_id=caller.organization_id, endpoint_id=webhook_endpoint_id
    )
    return await service.get_delivery_out(
        session, endpoint_id=webhook_endpoint_id, delivery_id=delivery.id
    )


@router.get(
    "/{webhook_endpoint_id}/deliveries",
    summary="The delivery log",
    description="Deliveries newest first, each with every attempt: when, the HTTP status, how "
    "long it took and what went wrong.",
)
async def list_webhook_deliveries(
    webhook_endpoint_id: uuid.UUID,
    caller: WebhooksManage,
    session: SessionDep,
    runtime: RuntimeDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[Text | None, Query(max_length=1000)] = None,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> DeliveryList:
    return await service.list_deliveries(
        session,
        secret_key=runtime.secret_key,
        organization_id=caller.organization_id,
        endpoint_id=webhook_endpoint_id,
        page_size=page_size,
        page_token=page_token,
        status=delivery_status,
    )


@router.post(
    "/{webhook_endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again",
    description="For a delivery that succeeded or failed; it is attempted again at once, with "
    "the same `webhook-id`, on a fresh retry schedule. A pending one answers 409.",
)
async def redeliver_webhook(
    webhook_endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
    caller: WebhooksManage,
    session: SessionDep,
) -> DeliveryOut:
    delivery = await service.redeliver(
        session,
        organization_id=caller.organization_id,
        endpoint_id=webhook_endpoint_id,
        delivery_id=delivery_id,
    )
    return await service.get_delivery_out(
        session, endpoint_id=webhook_endpoint_id, delivery_id=delivery.id
    )
