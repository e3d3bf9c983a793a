"""Meters that come later: looking for them again until they appear, and what webhooks trigger.

UtilityAPI often lists an authorization's meters minutes after the customer authorized. The
authorization completes at once with meters pending, and a `meters.discover` job, written in the
same transaction, asks again with backoff for up to 24 hours; a UtilityAPI webhook about the
authorization brings that job forward. The meters are then recorded exactly as if they had come
with the authorization.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.jobs.service import enqueue
from leap_connect.meters import repository
from leap_connect.meters.collection import record_collection_events
from leap_connect.meters.grant_endings import Ending, report_grant_ended
from leap_connect.meters.service import record_meters
from leap_connect.models import utc_now
from leap_connect.utilities.connector import Connector, ConnectorError
from leap_connect.utilities.registry import UTILITIES, Protocol

log = structlog.get_logger("leap_connect.meters.discovery")

DISCOVERY_JOB_KIND = "meters.discover"
DISCOVERY_DEADLINE = timedelta(hours=24)
FIRST_WAIT = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=15)
# Events that may mean an authorization's meters are listed now (or that it changed).
DISCOVERY_EVENT_PREFIXES = ("authorization_", "meter_")
MAX_AUTHORIZATIONS_PER_WEBHOOK = 500
# UtilityAPI's events that end an authorization, and what they end it as.
ENDING_EVENTS: dict[str, Ending] = {
    "authorization_revoked": "REVOKED",
    "authorization_expired": "EXPIRED",
}

UTILITYAPI_UTILITY_IDS = tuple(u.utility_id for u in UTILITIES if u.protocol is Protocol.UTILITYAPI)


def discovery_dedupe_key(authorization_id: uuid.UUID) -> str:
    return f"{DISCOVERY_JOB_KIND}:{authorization_id}"


def next_discovery_wait(waited: timedelta) -> timedelta | None:
    """How long to wait before asking again after `waited`: about as long again, so the checks
    thin out geometrically (5 s, 5 s, 10 s, 20 s, ... then every 15 min); None once 24 h are up."""
    if waited >= DISCOVERY_DEADLINE:
        return None
    return min(max(waited, FIRST_WAIT), LONGEST_WAIT, DISCOVERY_DEADLINE - waited)


async def enqueue_meter_discovery(session: AsyncSession, authorization_id: uuid.UUID) -> None:
    """Look for the authorization's meters now; written when the caller commits. Enqueued twice,
    it is one job: one already waiting for its next check is brought forward instead."""
    await enqueue(
        session,
        kind=DISCOVERY_JOB_KIND,
        payload={"authorization_id": str(authorization_id)},
        dedupe_key=discovery_dedupe_key(authorization_id),
    )


@dataclass(frozen=True, slots=True)
class Discovery:
    """What one look for an authorization's meters came to."""

    recorded: int = 0
    retry_in: timedelta | None = None
    reason: str = ""


async def discover_meters(
    session: AsyncSession,
    *,
    authorization_id: uuid.UUID,
    connectors: Mapping[str, Connector],
    waiting_since: datetime,
    now: datetime | None = None,
) -> Discovery:
    found = await repository.get_authorization_with_session(session, authorization_id)
    if found is None or found[0].status != "COMPLETED":
        return Discovery(reason="the authorization is not completed")
    authorization, connect_session = found
    if not authorization.meters_pending:
        return Discovery(reason="the meters are already recorded")
    connector = connectors.get(authorization.utility_id)
    reference = authorization.utility_authorization_ref
    if connector is None or not connector.reports_meters_later or reference is None:
        log.warning("meter_discovery_impossible", utility_id=authorization.utility_id)
        return Discovery(reason=f"{authorization.utility_id} reports no meters later")
    wait = next_discovery_wait((now or utc_now()) - waiting_since)
    try:
        pending = await connector.pending_meters(reference)
    except ConnectorError as error:
        if error.retryable and wait is not None:
            return Discovery(retry_in=wait, reason=error.message)
        raise
    if pending.revoked:
        log.info("meter_discovery_revoked", authorization_id=str(authorization.id))
        return Discovery(reason="the customer revoked the authorization")
    if not pending.meters:
        if wait is None:
            log.warning("meters_never_listed", authorization_id=str(authorization.id))
            return Discovery(reason=f"no meters after {DISCOVERY_DEADLINE}")
        return Discovery(retry_in=wait, reason="the utility lists no meters yet")
    recorded = await record_meters(
        session,
        connect_session=connect_session,
        authorization=authorization,
        discovered=pending.meters,
    )
    authorization.meters_pending = False
    log.info("meters_discovered", authorization_id=str(authorization.id), meters=len(recorded))
    return Discovery(recorded=len(recorded))


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    discoveries: int
    unknown_authorizations: tuple[str, ...]


async def receive_utilityapi_events(
    session: AsyncSession, events: Sequence[object]
) -> WebhookReceipt:
    """Bring forward the meter discovery of each authorization an event is about. Replayed or
    duplicate events find the discovery already queued, or the meters already recorded."""
    about: dict[str, str] = {}  # UtilityAPI authorization uid -> event type
    ended: dict[str, Ending] = {}  # uid -> REVOKED or EXPIRED, from its events
    for event in events:
        if not isinstance(event, dict):
            continue
        kind, uid = event.get("type"), event.get("authorization_uid")
        if not isinstance(kind, str) or not kind.startswith(DISCOVERY_EVENT_PREFIXES):
            continue
        if isinstance(uid, int) and not isinstance(uid, bool):
            uid = str(uid)  # uids "may appear as integers"
        if isinstance(uid, str) and 0 < len(uid) <= 2000:
            about.setdefault(uid, kind)
            if kind in ENDING_EVENTS:
                ended[uid] = ENDING_EVENTS[kind]
    discoveries = 0
    unknown: list[str] = []
    for uid, kind in list(about.items())[:MAX_AUTHORIZATIONS_PER_WEBHOOK]:
        authorizations = await repository.list_authorizations_by_utility_ref(
            session, utility_ids=UTILITYAPI_UTILITY_IDS, utility_authorization_ref=uid
        )
        if not authorizations:
            log.info("utilityapi_webhook_unknown_authorization", authorization_uid=uid, type=kind)
            unknown.append(uid)
        for authorization in authorizations:
            if authorization.status == "COMPLETED" and uid in ended:
                await report_grant_ended(session, authorization.id, ended[uid])
            if authorization.status == "COMPLETED" and authorization.meters_pending:
                await enqueue_meter_discovery(session, authorization.id)
                discoveries += 1
    await record_collection_events(session, events)
    return WebhookReceipt(discoveries=discoveries, unknown_authorizations=tuple(unknown))
