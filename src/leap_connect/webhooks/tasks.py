"""The delivery job: an endpoint's due deliveries sent at once, logged in the job's commit; and
the job that encrypts static headers stored before they were encrypted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog

from leap_connect.jobs.registry import JobContext, job_handler, periodic_job
from leap_connect.models import WebhookEndpoint, utc_now
from leap_connect.webhooks import repository, service
from leap_connect.webhooks.delivery import (
    Attempt,
    event_body,
    request_headers,
    send,
    signature_header,
    webhook_client,
)
from leap_connect.webhooks.events import DELIVER_JOB, PING
from leap_connect.webhooks.repository import DueDelivery

log = structlog.get_logger("leap_connect.webhooks")

# Deliveries one run of an endpoint's job sends at once. The run lasts as long as the slowest of
# them (10 s at most); more that are due wait for the next run, which is queued to start at once.
BATCH_SIZE = 50


@job_handler(DELIVER_JOB)
async def deliver_webhooks(context: JobContext, payload: dict[str, Any]) -> None:
    endpoint_id = uuid.UUID(payload["webhook_endpoint_id"])
    session = context.session
    # One transaction for the batch: its deliveries stay locked (no other run sends them) while the
    # partner answers, and their attempts commit with the job being done.
    endpoint = await repository.endpoint_by_id(session, endpoint_id)
    if endpoint is None:
        log.info("webhook_endpoint_gone", webhook_endpoint_id=str(endpoint_id))  # and its log
        return
    if endpoint.deleted_at is not None:
        await service.purge_deleted_endpoint(session, endpoint_id)
        log.info("webhook_endpoint_removed", webhook_endpoint_id=str(endpoint_id))
        return
    due = await repository.claim_due_deliveries(
        session, endpoint_id, now=utc_now(), limit=BATCH_SIZE
    )
    if not endpoint.enabled:
        # Queued before the endpoint was disabled; a ping is sent whatever the endpoint's state.
        await service.fail_without_attempt(
            session, [delivery.id for delivery in due if delivery.event.event_type != PING]
        )
        due = [delivery for delivery in due if delivery.event.event_type == PING]
    if due:
        attempts = await _send_all(context, endpoint, due)
        statuses = await service.record_attempts(
            session,
            endpoint=endpoint,
            attempts=attempts,
            retry_delays=context.settings.webhook_retry_delays_seconds,
        )
        log.info("webhook_batch_sent", webhook_endpoint_id=str(endpoint_id), **statuses)
    context.run_again_at = await service.next_run_at(session, endpoint_id)


async def _send_all(
    context: JobContext, endpoint: WebhookEndpoint, due: Sequence[DueDelivery]
) -> list[Attempt]:
    """Sign and send every delivery at once over the worker's client, in the order they fell due."""
    client = webhook_client(context.runtime).client
    settings = context.settings
    secrets = service.signing_secrets(endpoint, context.runtime.encryptor, utc_now())
    static_headers = service.static_headers(endpoint, context.runtime.encryptor)

    async def attempt(delivery: DueDelivery) -> Attempt:
        attempted_at = utc_now()
        body = event_body(delivery.event)
        message_id = str(delivery.event.id)
        headers = request_headers(
            static_headers=static_headers,
            message_id=message_id,
            timestamp=attempted_at,
            signature=signature_header(
                secrets, message_id=message_id, timestamp=attempted_at, body=body
            ),
        )
        outcome = await send(
            client,
            endpoint.url,
            body=body,
            headers=headers,
            time_limit=settings.webhook_timeout_seconds,
            development=settings.is_development,
        )
        if not outcome.succeeded:
            log.info(
                "webhook_attempt_failed",
                delivery_id=str(delivery.id),
                attempt=delivery.attempt_count + 1,
                status_code=outcome.status_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        return Attempt(
            delivery_id=delivery.id,
            number=delivery.attempt_count + 1,
            scheduled_retries=delivery.scheduled_retries,
            attempted_at=attempted_at,
            outcome=outcome,
        )

    return list(await asyncio.gather(*(attempt(delivery) for delivery in due)))


@periodic_job("webhooks.encrypt_headers", every=timedelta(minutes=10))
async def encrypt_headers(context: JobContext, payload: dict[str, Any]) -> None:
    """Static headers stored in plain JSON before they were encrypted: encrypted, a batch a run."""
    encrypted = await service.encrypt_plain_headers(context.session, context.runtime.encryptor)
    if encrypted:
        log.info("webhook_headers_encrypted", endpoints=encrypted)
