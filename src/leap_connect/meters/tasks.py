"""The `meters.discover` job: asks a utility again for meters it had not listed yet."""

from __future__ import annotations

import uuid
from typing import Any

from leap_connect.jobs.registry import JobContext, RetryLater, job_handler
from leap_connect.meters import discovery
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
