"""The meters' jobs: `meters.discover` asks a utility again for meters it had not listed yet;
`meters.collect` asks UtilityAPI for their history and follows its collection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from leap_connect.jobs.registry import JobContext, RetryLater, job_handler
from leap_connect.meters import collection, discovery
from leap_connect.meters.service import COLLECTION_JOB_KIND
from leap_connect.models import utc_now


@job_handler(discovery.DISCOVERY_JOB_KIND)
async def discover_meters(context: JobContext, payload: dict[str, Any]) -> None:
    outcome = await discovery.discover_meters(
        context.session,
        authorization_id=uuid.UUID(str(payload["authorization_id"])),
        connectors=context.runtime.connectors,
        # The job row's age, not a counter: the schedule survives restarts and lost leases.
        waiting_since=context.job.created_at,
        now=utc_now(),
    )
    if outcome.retry_in is not None:
        raise RetryLater(outcome.retry_in, outcome.reason)


@job_handler(COLLECTION_JOB_KIND)
async def collect_history(context: JobContext, payload: dict[str, Any]) -> None:
    authorization_id = uuid.UUID(str(payload["authorization_id"]))
    since = payload.get("polling_since")
    polling_since = datetime.fromisoformat(since) if isinstance(since, str) else None
    polling_since = polling_since or context.job.created_at
    now = utc_now()
    outcome = await collection.collect_history(
        context.session,
        authorization_id=authorization_id,
        connectors=context.runtime.connectors,
        polling_since=polling_since,
        now=now,
    )
    if outcome.retry_in is not None:
        raise RetryLater(outcome.retry_in, outcome.reason)
    if outcome.poll_in is not None:
        await collection.enqueue_poll(
            context.session,
            authorization_id,
            polling_since=polling_since,
            run_at=now + outcome.poll_in,
        )
