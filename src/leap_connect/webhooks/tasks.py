"""The delivery job: one signed attempt of a delivery, logged in the commit that ends the job."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

import httpx
import structlog

from leap_connect.jobs.registry import JobContext, job_handler
from leap_connect.kit.crypto import Encryptor
from leap_connect.models import utc_now
from leap_connect.webhooks import repository, service
from leap_connect.webhooks.delivery import (
    create_client,
    event_body,
    request_headers,
    send,
    signature_header,
)
from leap_connect.webhooks.events import DELIVER_JOB, PING

log = structlog.get_logger("leap_connect.webhooks")

CLIENT_EXTRA = "webhook_http_client"


@job_handler(DELIVER_JOB)
async def deliver_webhook(context: JobContext, payload: dict[str, Any]) -> None:
    delivery_id = uuid.UUID(payload["delivery_id"])
    attempt = int(payload["attempt"])
    retry = int(payload["retry"])
    # Read in the job's transaction: one transaction per attempt. It holds a connection while
    # the partner answers (10 s at most), but no lock that a change or another delivery waits on.
    loaded = await repository.load_for_attempt(context.session, delivery_id)
    if loaded is None:
        log.info("webhook_delivery_gone", delivery_id=str(delivery_id))  # endpoint deleted
        return
    delivery, endpoint, event = loaded
    if delivery.status != repository.PENDING or delivery.attempt_count != attempt - 1:
        log.warning("webhook_attempt_stale", delivery_id=str(delivery_id), attempt=attempt)
        return
    if not endpoint.enabled and event.event_type != PING:
        await service.fail_without_attempt(context.session, delivery.id)
        return

    attempted_at = utc_now()
    encryptor = context.extras.get("encryptor") or _encryptor(
        context.settings.encryption_keys.get_secret_value()
    )
    body = event_body(event)
    message_id = str(event.id)
    headers = request_headers(
        static_headers=endpoint.headers,
        message_id=message_id,
        timestamp=attempted_at,
        signature=signature_header(
            service.signing_secrets(endpoint, encryptor, attempted_at),
            message_id=message_id,
            timestamp=attempted_at,
            body=body,
        ),
    )
    outcome = await send(
        _client(context),
        endpoint.url,
        body=body,
        headers=headers,
        time_limit=context.settings.webhook_timeout_seconds,
        https_only=not context.settings.is_development,
    )
    status = await service.record_outcome(
        context.session,
        delivery=delivery,
        endpoint=endpoint,
        attempt=attempt,
        retry=retry,
        attempted_at=attempted_at,
        outcome=outcome,
        retry_delays=context.settings.webhook_retry_delays_seconds,
    )
    log.info(
        "webhook_attempt",
        delivery_id=str(delivery_id),
        attempt=attempt,
        status=status,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        error=outcome.error,
    )


def _client(context: JobContext) -> httpx.AsyncClient:
    """The worker's one webhook client, made on first use and kept in its extras.

    Kept for the worker's life so connections to partners are reused; whoever starts a worker
    may put its own there (and close it) instead.
    """
    client = context.extras.get(CLIENT_EXTRA)
    if client is None:
        client = create_client(context.settings)
        context.extras[CLIENT_EXTRA] = client
    assert isinstance(client, httpx.AsyncClient)
    return client


@lru_cache(maxsize=4)
def _encryptor(keys: str) -> Encryptor:
    return Encryptor(keys)
