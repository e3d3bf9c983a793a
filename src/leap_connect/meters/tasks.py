"""The `meters.discover` job: asks a utility again for meters it had not listed yet."""

from __future__ import annotations

import uuid
from typing import Any

from leap_connect.jobs.registry import JobContext, RetryLater, job_handler
from leap_connect.kit.http import HttpClientFactory
from leap_connect.meters import discovery
from leap_connect.models import utc_now
from leap_connect.utilities.connector import Connector
from leap_connect.utilities.connectors import build_connectors


@job_handler(discovery.DISCOVERY_JOB_KIND)
async def discover_meters(context: JobContext, payload: dict[str, Any]) -> None:
    outcome = await discovery.discover_meters(
        context.session,
        authorization_id=uuid.UUID(str(payload["authorization_id"])),
        connectors=_connectors(context),
        # The job row's age, not a counter: the schedule survives restarts and lost leases.
        waiting_since=context.job.created_at,
        now=utc_now(),
    )
    if outcome.retry_in is not None:
        raise RetryLater(outcome.retry_in, outcome.reason)


def _connectors(context: JobContext) -> dict[str, Connector]:
    """The app's connectors when the worker runs in it; else built once per worker from settings."""
    connectors: dict[str, Connector] | None = context.extras.get("connectors")
    if connectors is None:
        http = HttpClientFactory(timeout=context.settings.http_timeout_seconds)
        connectors = build_connectors(context.settings, http)
        context.extras["connectors"] = connectors
    return connectors
