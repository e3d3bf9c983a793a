"""Background work of the journey: recording grants a callback kept but could not record, and
closing sessions nobody has touched for 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from leap_connect.connect import authorizations, events, repository
from leap_connect.jobs.registry import JobContext, job_handler, periodic_job
from leap_connect.models import utc_now

log = structlog.get_logger("leap_connect.connect.tasks")

IDLE_LIMIT = timedelta(hours=24)
BATCH = 500


@job_handler(authorizations.RECORD_JOB_KIND)
async def record_authorization(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued with every kept grant, and withdrawn when the callback's request records it: runs
    only when the request could not (a database error, a restart)."""
    if await authorizations.record_kept_grant(context.session, payload):
        log.info("authorization_recorded_by_job", authorization_id=payload["authorization_id"])


@periodic_job("connect.close_idle_sessions", every=timedelta(minutes=1))
async def close_idle_sessions(context: JobContext, payload: dict[str, Any]) -> None:
    now = utc_now()
    for connect_session in await repository.idle_connect_sessions(
        context.session, idle_since=now - IDLE_LIMIT, limit=BATCH
    ):
        connect_session.status = "CLOSED"
        connect_session.closed_at = now
        await events.session_updated(context.session, connect_session)
