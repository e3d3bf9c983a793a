"""Collecting a meter's history where the utility does so only when asked (UtilityAPI).

UtilityAPI serves a meter no intervals until `historical-collection` is asked for, and then
gathers its history over minutes to hours. Recording such meters marks them COLLECTING and queues
a `meters.collect` job for their authorization; the job asks for the history and for ongoing
monitoring, in batches. Then UtilityAPI's webhook (`meter_historical_collection_finished_...`)
says when each meter's history is in; with no webhooks configured the job asks after it instead.
A meter whose history is in becomes READY, announced by a `meter.data_ready` event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.jobs.service import enqueue
from leap_connect.meters import repository
from leap_connect.meters.service import (
    COLLECTING_UTILITY_IDS,
    COLLECTION_JOB_KIND,
    meter_payload,
)
from leap_connect.models import Meter, utc_now
from leap_connect.utilities.connector import Connector, ConnectorError, DataStatus, HistoryCollector
from leap_connect.webhooks.events import record_event

log = structlog.get_logger("leap_connect.meters.collection")

# How long a collection may take before it counts as failed, and how often to ask meanwhile.
COLLECTION_DEADLINE = timedelta(hours=48)
FIRST_POLL = timedelta(seconds=30)
LONGEST_POLL = timedelta(minutes=30)
# UtilityAPI's webhook event types for a finished historical collection (`meter_uid` says which).
FINISHED_EVENTS: dict[str, DataStatus] = {
    "meter_historical_collection_finished_successful": "READY",
    "meter_historical_collection_finished_errored": "FAILED",
}
_METER_UID = re.compile(r"[A-Za-z0-9._-]{1,100}", re.ASCII)


async def enqueue_poll(
    session: AsyncSession, authorization_id: uuid.UUID, *, polling_since: datetime, run_at: datetime
) -> None:
    """Ask again at `run_at` where the authorization's collections stand. Not deduplicated: the
    running job that queues it still holds the authorization's key."""
    await enqueue(
        session,
        kind=COLLECTION_JOB_KIND,
        payload={
            "authorization_id": str(authorization_id),
            "polling_since": polling_since.isoformat(),
        },
        run_at=run_at,
    )


def next_poll(waited: timedelta) -> timedelta | None:
    """How long to wait before asking again after `waited`; None once the deadline has passed."""
    if waited >= COLLECTION_DEADLINE:
        return None
    return min(max(waited, FIRST_POLL), LONGEST_POLL, COLLECTION_DEADLINE - waited)


@dataclass(frozen=True, slots=True)
class Collection:
    """What one run of the collection job came to."""

    requested: int = 0
    ready: int = 0
    failed: int = 0
    poll_in: timedelta | None = None
    retry_in: timedelta | None = None
    reason: str = ""


async def collect_history(
    session: AsyncSession,
    *,
    authorization_id: uuid.UUID,
    connectors: Mapping[str, Connector],
    polling_since: datetime,
    now: datetime | None = None,
) -> Collection:
    """Ask for the history of the authorization's meters not asked for yet; then, when the
    utility sends no webhooks, ask where each collection stands."""
    now = now or utc_now()
    meters = await repository.meters_collecting(session, authorization_id)
    if not meters:
        return Collection(reason="no meter is collecting")
    connector = connectors.get(meters[0].utility_id)
    if not isinstance(connector, HistoryCollector):
        log.warning("collection_impossible", utility_id=meters[0].utility_id)
        return Collection(reason=f"{meters[0].utility_id} collects nothing on request")
    authorization = await repository.get_authorization(session, authorization_id)
    if authorization is None or authorization.status != "COMPLETED":
        return Collection(reason="the authorization is not completed")

    unasked = [m for m in meters if m.collection_requested_at is None and m.usage_point_uri]
    if unasked:
        try:
            await connector.start_collection([m.usage_point_uri or "" for m in unasked])
        except ConnectorError as error:
            wait = next_poll(now - polling_since)
            if error.retryable and wait is not None:
                asked = timedelta(seconds=error.retry_after) if error.retry_after else wait
                return Collection(retry_in=asked, reason=error.message)
            for meter in unasked:
                await set_data_status(session, meter, "FAILED")
            log.warning(
                "collection_refused", code=error.code, authorization_id=str(authorization_id)
            )
            return Collection(failed=len(unasked), reason=error.message)
        for meter in unasked:
            meter.collection_requested_at = now
    if connector.webhooks_configured:
        return Collection(requested=len(unasked), reason="the utility's webhooks will tell")

    states = await connector.collection_states([m.usage_point_uri or "" for m in meters])
    wait = next_poll(now - polling_since)
    ready = failed = 0
    for meter in meters:
        state = states.get(meter.usage_point_uri or "", "FAILED")
        if state == "COLLECTING" and wait is None:
            state = "FAILED"  # it never finished
        if state != "COLLECTING":
            await set_data_status(session, meter, state)
            ready += state == "READY"
            failed += state == "FAILED"
    still = len(meters) - ready - failed
    return Collection(
        requested=len(unasked),
        ready=ready,
        failed=failed,
        poll_in=wait if still else None,
        reason=f"{still} still collecting" if still else "every collection finished",
    )


async def record_collection_events(session: AsyncSession, events: Sequence[object]) -> int:
    """Apply UtilityAPI's `meter_historical_collection_finished_*` events; returns how many
    meters they moved. A replayed event finds its meter already moved and changes nothing."""
    moved = 0
    for event in events:
        if not isinstance(event, dict) or event.get("type") not in FINISHED_EVENTS:
            continue
        uid = event.get("meter_uid")
        uid = str(uid) if isinstance(uid, int) and not isinstance(uid, bool) else uid
        if not isinstance(uid, str) or not _METER_UID.fullmatch(uid):
            continue
        state = FINISHED_EVENTS[str(event["type"])]
        for meter in await repository.meters_by_usage_point_suffix(
            session, COLLECTING_UTILITY_IDS, f"/meters/{uid}"
        ):
            if meter.data_status == "COLLECTING":
                await set_data_status(session, meter, state)
                moved += 1
    return moved


async def set_data_status(session: AsyncSession, meter: Meter, status: DataStatus) -> None:
    """Move the meter to `status`; its history being in is announced as `meter.data_ready`."""
    if meter.data_status == status:
        return
    meter.data_status = status
    log.info("meter_data_status", meter_id=str(meter.id), data_status=status)
    if status == "READY":
        await record_event(
            session,
            organization_id=meter.organization_id,
            event_type="meter.data_ready",
            payload={"meter": await meter_payload(session, meter)},
        )
