"""UtilityAPI's webhooks (/connect/webhooks/utilityapi): news of an authorization's meters."""

from __future__ import annotations

import json

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.problems import LeapConnectError, Unauthorized
from leap_connect.meters import discovery
from leap_connect.utilities.registry import Protocol

router = APIRouter()
log = structlog.get_logger("leap_connect.meters.discovery")

MAX_WEBHOOK_BYTES = 1024 * 1024


class WebhookTooLarge(LeapConnectError):
    status_code = 413
    title = "Request too large"
    type_slug = "request-too-large"


@router.post("/connect/webhooks/utilityapi", include_in_schema=False)
async def utilityapi_webhook(
    request: Request, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """UtilityAPI says something happened to an authorization: look for its meters now.

    Signed with a secret we share with UtilityAPI; unsigned or forged calls change nothing.
    Events about authorizations we do not know are logged and acknowledged, so UtilityAPI does
    not retry them.
    """
    body = await _read_body(request)
    if not any(
        connector.webhook_is_signed(request.headers, body)
        for connector in runtime.connectors.values()
        if connector.utility.protocol is Protocol.UTILITYAPI
    ):
        log.warning("utilityapi_webhook_refused")
        raise Unauthorized("The webhook signature is missing or does not match.")
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise LeapConnectError('The body must be a JSON object with an "events" list.')
    receipt = await discovery.receive_utilityapi_events(session, events)
    log.info(
        "utilityapi_webhook_received",
        events=len(events),
        discoveries=receipt.discoveries,
        unknown_authorizations=len(receipt.unknown_authorizations),
    )
    return JSONResponse({"received": len(events)})


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise WebhookTooLarge(f"A webhook may be at most {MAX_WEBHOOK_BYTES // 1024} KB.")
        chunks.append(chunk)
    return b"".join(chunks)
