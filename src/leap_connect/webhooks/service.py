"""Webhook endpoints, their secrets and delivery log, and what each delivery attempt changes."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.pagination import (
    Position,
    decode_page_token,
    next_page_token,
    page_of,
    search_fingerprint,
)
from leap_connect.kit.problems import Conflict, NotFound, ValidationFailed
from leap_connect.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
    utc_now,
)
from leap_connect.webhooks import repository
from leap_connect.webhooks.delivery import Attempt, Outcome, retry_delay, sendable_headers
from leap_connect.webhooks.events import PING, add_delivery, schedule_deliveries
from leap_connect.webhooks.repository import FAILED, PENDING, SUCCEEDED
from leap_connect.webhooks.schemas import (
    DeliveryAttemptOut,
    DeliveryList,
    DeliveryOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from leap_connect.webhooks.ssrf import url_problem

log = structlog.get_logger("leap_connect.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
# How long deliveries keep carrying a signature with the secret a rotation replaced.
ROTATION_WINDOW = timedelta(hours=24)
# An endpoint every delivery to which has failed for this long is disabled.
FAILING_LIMIT = timedelta(days=3)
# Endpoints whose plain headers one run of `webhooks.encrypt_headers` encrypts.
ENCRYPT_BATCH = 500
# How soon a delivery job that found its endpoint busy with new events runs again.
BUSY_ENDPOINT_LOOKS_AGAIN = timedelta(seconds=1)


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(endpoint: WebhookEndpoint, encryptor: Encryptor, now: datetime) -> list[str]:
    """The current secret, and the one before it while its rotation window lasts."""
    current = [encryptor.decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        current.append(encryptor.decrypt(endpoint.previous_secret_encrypted))
    return current


def static_headers(endpoint: WebhookEndpoint, encryptor: Encryptor) -> dict[str, str]:
    """The endpoint's static headers, as the partner set them.

    Stored encrypted (`headers_encrypted`); rows written before that have them in plain JSON
    (`headers`) until they are next written or `encrypt_plain_headers` reaches them.
    """
    if endpoint.headers_encrypted is not None:
        headers: dict[str, str] = json.loads(encryptor.decrypt(endpoint.headers_encrypted))
        return headers
    return {str(name): str(value) for name, value in endpoint.headers.items()}


def _store_headers(
    endpoint: WebhookEndpoint, encryptor: Encryptor, headers: dict[str, str]
) -> None:
    endpoint.headers_encrypted = encryptor.encrypt(json.dumps(headers, ensure_ascii=False))
    endpoint.headers = {}


async def encrypt_plain_headers(
    session: AsyncSession, encryptor: Encryptor, *, limit: int = ENCRYPT_BATCH
) -> int:
    """Encrypt up to `limit` endpoints' plain static headers (see `static_headers`); how many.

    For rows written before static headers were encrypted: a migration cannot, having no keys.
    """
    encrypted = 0
    for endpoint_id, headers in await repository.plain_headers(session, limit=limit):
        ciphertext = encryptor.encrypt(json.dumps(headers, ensure_ascii=False))
        if await repository.store_encrypted_headers(session, endpoint_id, ciphertext):
            encrypted += 1
    return encrypted


# --- endpoints ------------------------------------------------------------------------------------


async def list_endpoints(
    session: AsyncSession, *, organization_id: uuid.UUID
) -> list[WebhookEndpoint]:
    return await repository.list_endpoints(session, organization_id)


async def get_endpoint(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, organization_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


async def _endpoint_to_change(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """The endpoint, held until commit so its job cannot remove it meanwhile if it is deleted."""
    endpoint = await repository.get_endpoint(session, organization_id, endpoint_id, hold=True)
    if endpoint is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


async def create_endpoint(
    session: AsyncSession,
    encryptor: Encryptor,
    *,
    organization_id: uuid.UUID,
    data: WebhookEndpointIn,
    development: bool,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret, which is shown to the partner this once."""
    _check_url(data.url, development=development)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=data.url,
        event_types=list(data.event_types),
        enabled=data.enabled,
        secret_encrypted=encryptor.encrypt(secret),
    )
    _store_headers(endpoint, encryptor, dict(data.headers))
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def replace_endpoint(
    session: AsyncSession,
    encryptor: Encryptor,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    data: WebhookEndpointIn,
    development: bool,
) -> WebhookEndpoint:
    """Every setting as `data` has it, static headers included (PUT)."""
    endpoint = await _endpoint_to_change(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    _check_url(data.url, development=development)
    _apply_settings(endpoint, data)
    _store_headers(endpoint, encryptor, dict(data.headers))
    await session.flush()
    return endpoint


async def update_endpoint_keeping_headers(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    data: WebhookEndpointIn,
    development: bool,
) -> WebhookEndpoint:
    """The URL, event types and `enabled` as `data` has them; the static headers stay as stored
    (the portal's form, which does not show them). `data.headers` is not used."""
    endpoint = await _endpoint_to_change(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    _check_url(data.url, development=development)
    _apply_settings(endpoint, data)
    await session.flush()
    return endpoint


def _apply_settings(endpoint: WebhookEndpoint, data: WebhookEndpointIn) -> None:
    if data.enabled and not endpoint.enabled:
        # Re-enabled by the partner: whatever failure disabled it is theirs to have fixed.
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    endpoint.url = data.url
    endpoint.event_types = list(data.event_types)
    endpoint.enabled = data.enabled


async def delete_endpoint(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """Gone for the partner at once; its job removes it and its delivery log soon after.

    Only marked here: the endpoint stays a valid reference for the deliveries that events being
    recorded right now are adding, so those changes commit instead of failing. The job removes it
    once they have (`purge_deleted_endpoint`).
    """
    now = utc_now()
    if not await repository.mark_deleted(session, organization_id, endpoint_id, now):
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    await schedule_deliveries(session, endpoint_id=endpoint_id, run_at=now)


async def purge_deleted_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await repository.purge_endpoint(session, endpoint_id)


async def rotate_secret(
    session: AsyncSession,
    encryptor: Encryptor,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
) -> tuple[str, datetime]:
    """A new secret (shown once); the replaced one keeps signing too for `ROTATION_WINDOW`."""
    endpoint = await _endpoint_to_change(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    secret = generate_secret()
    expires_at = utc_now() + ROTATION_WINDOW
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = expires_at
    endpoint.secret_encrypted = encryptor.encrypt(secret)
    await session.flush()
    return secret, expires_at


def endpoint_out(endpoint: WebhookEndpoint, encryptor: Encryptor) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        webhook_endpoint_id=endpoint.id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        # What deliveries carry: a reserved name stored before it was refused is not sent.
        headers=sendable_headers(static_headers(endpoint, encryptor)),
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _check_url(url: str, *, development: bool) -> None:
    """The URL by the rules each delivery applies to it (`url_problem`), refused as a 422."""
    problem = url_problem(url, development=development)
    if problem is not None:
        # A sentence; one that starts with an address ("fe80::1 is ...") keeps it as written.
        first_word = problem.split(" ", 1)[0]
        message = (problem[:1].upper() + problem[1:] if first_word.isalpha() else problem) + "."
        raise ValidationFailed(message, errors=[{"field": "url", "message": message}])


# --- deliveries -----------------------------------------------------------------------------------


async def send_test_event(
    session: AsyncSession, *, organization_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookDelivery:
    """A `ping` event to this endpoint alone, whatever it subscribes to and even if disabled."""
    endpoint = await _endpoint_to_change(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    event = WebhookEvent(
        organization_id=organization_id,
        event_type=PING,
        payload={"webhook_event_type": PING, "webhook_endpoint_id": str(endpoint.id)},
        created_at=utc_now(),
    )
    session.add(event)
    await session.flush()
    delivery = await add_delivery(session, endpoint_id=endpoint.id, event_id=event.id)
    await session.flush()
    return delivery


async def redeliver(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> WebhookDelivery:
    """Send a finished delivery again, with a fresh retry schedule; its log grows on."""
    endpoint = await _endpoint_to_change(
        session, organization_id=organization_id, endpoint_id=endpoint_id
    )
    delivery = await repository.get_delivery(session, endpoint.id, delivery_id)
    if delivery is None:
        raise NotFound(f"There is no delivery {delivery_id} for this webhook endpoint.")
    now = utc_now()
    if not await repository.reopen_delivery(session, delivery.id, now):
        raise Conflict("This delivery is still pending: it is attempted again on its schedule.")
    await schedule_deliveries(session, endpoint_id=endpoint.id, run_at=now)
    await session.refresh(delivery)
    return delivery


async def list_deliveries(
    session: AsyncSession,
    *,
    secret_key: str,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    page_size: int,
    page_token: str | None,
    status: str | None,
) -> DeliveryList:
    endpoint = await get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    token_scope: dict[str, Any] = {
        "kind": "webhook_deliveries",
        "organization_id": organization_id,
        "fingerprint": search_fingerprint({"endpoint_id": str(endpoint.id), "status": status}),
    }
    position = decode_page_token(page_token, secret_key, **token_scope) if page_token else None
    rows = await repository.list_deliveries(
        session, endpoint.id, before=position, status=status, limit=page_size + 1
    )
    page = page_of(rows, page_size, lambda row: Position(row[0].created_at, row[0].id))
    attempts = await repository.attempts_by_delivery(
        session, [delivery.id for delivery, _ in page.items]
    )
    return DeliveryList(
        deliveries=[
            delivery_out(delivery, event, attempts.get(delivery.id, []))
            for delivery, event in page.items
        ],
        next_page_token=next_page_token(secret_key, page, **token_scope),
    )


async def get_delivery_out(
    session: AsyncSession, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryOut:
    delivery = await repository.get_delivery(session, endpoint_id, delivery_id)
    assert delivery is not None
    event = await repository.get_event(session, delivery.event_id)
    assert event is not None
    attempts = await repository.attempts_by_delivery(session, [delivery.id])
    return delivery_out(delivery, event, attempts.get(delivery.id, []))


def delivery_out(
    delivery: WebhookDelivery, event: WebhookEvent, attempts: list[WebhookDeliveryAttempt]
) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=delivery.id,
        webhook_event_id=event.id,
        webhook_event_type=event.event_type,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        payload=event.payload,
        attempts=[
            DeliveryAttemptOut(
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                duration_ms=attempt.duration_ms,
                error=attempt.error,
            )
            for attempt in attempts
        ],
    )


# --- attempts -------------------------------------------------------------------------------------


async def record_attempts(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    attempts: Sequence[Attempt],
    retry_delays: tuple[float, ...],
) -> dict[str, int]:
    """Log a batch of attempts, settle or reschedule each delivery, and track the endpoint.

    Runs in the delivery job's transaction, so the log entries and the job being done are one
    commit: a worker dying before it leaves the batch to be sent again. Returns how many deliveries
    are now in each status.
    """
    now = utc_now()
    log_entries: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    for attempt in attempts:
        status, next_attempt_at, scheduled_retries = after_attempt(
            attempt, retry_delays=retry_delays, now=now
        )
        statuses[status] = statuses.get(status, 0) + 1
        log_entries.append(
            {
                "id": uuid.uuid4(),
                "delivery_id": attempt.delivery_id,
                "attempted_at": attempt.attempted_at,
                "status_code": attempt.outcome.status_code,
                "duration_ms": attempt.outcome.duration_ms,
                "error": attempt.outcome.error,
            }
        )
        changes.append(
            {
                "id": attempt.delivery_id,
                "status": status,
                "attempt_count": attempt.number,
                "scheduled_retries": scheduled_retries,
                "next_attempt_at": next_attempt_at,
                "delivered_at": attempt.attempted_at if status == SUCCEEDED else None,
                "updated_at": now,
            }
        )
    await repository.record_attempts(session, log_entries, changes)
    await _track_endpoint_health(session, endpoint, [attempt.outcome for attempt in attempts], now)
    return statuses


def after_attempt(
    attempt: Attempt, *, retry_delays: Sequence[float], now: datetime
) -> tuple[str, datetime | None, int]:
    """The delivery's status, next attempt and retries used once `attempt` is made."""
    if attempt.outcome.succeeded:
        return SUCCEEDED, None, attempt.scheduled_retries
    delay = retry_delay(attempt.scheduled_retries, retry_delays)
    if delay is None:
        return FAILED, None, attempt.scheduled_retries
    return PENDING, now + delay, attempt.scheduled_retries + 1


async def next_run_at(session: AsyncSession, endpoint_id: uuid.UUID) -> datetime | None:
    """When the endpoint's delivery job should run next: its soonest pending delivery, if any.

    Asked last in the job's transaction, holding the endpoint until commit: a transaction that
    queued a delivery while the job ran has committed by then (see `schedule_deliveries`). While
    events are being recorded for the endpoint it cannot be held, so the job looks again in a
    moment instead of waiting; a delivery they add is then due, or brings that run forward. An
    endpoint deleted while the job ran is removed by its next run, at once.
    """
    if not await repository.try_lock_endpoint(session, endpoint_id):
        return utc_now() + BUSY_ENDPOINT_LOOKS_AGAIN
    if await repository.is_deleted(session, endpoint_id):
        return utc_now()
    return await repository.next_attempt_at(session, endpoint_id)


async def _track_endpoint_health(
    session: AsyncSession, endpoint: WebhookEndpoint, outcomes: Sequence[Outcome], now: datetime
) -> None:
    if not outcomes:
        return
    if any(outcome.succeeded for outcome in outcomes):
        if endpoint.failing_since is not None:
            await repository.clear_failing_since(session, endpoint.id)
        return
    if endpoint.failing_since is None:
        await repository.mark_failing_since(session, endpoint.id, now)
        return
    if now - endpoint.failing_since < FAILING_LIMIT:
        return
    reason = (
        f"Disabled by Leap Connect on {now:%Y-%m-%d %H:%M} UTC: every delivery had failed since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last error: {outcomes[-1].error}). Fix the "
        "endpoint, enable it again, and redeliver what failed."
    )
    if await repository.disable_if_failing_since(
        session, endpoint.id, cutoff=now - FAILING_LIMIT, reason=reason
    ):
        log.warning(
            "webhook_endpoint_disabled",
            webhook_endpoint_id=str(endpoint.id),
            organization_id=str(endpoint.organization_id),
            failing_since=endpoint.failing_since.isoformat(),
        )


async def fail_without_attempt(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Deliveries to an endpoint disabled since they were queued: failed, and redeliverable."""
    await repository.finish_without_attempt(session, delivery_ids)
