"""Background work of the journey: closing sessions nobody has touched for 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leap_connect.connect import events, repository
from leap_connect.jobs.registry import JobContext, periodic_job
from leap_connect.models import utc_now

IDLE_LIMIT = timedelta(hours=24)
BATCH = 500


@periodic_job("connect.close_idle_sessions", every=timedelta(minutes=1))
async def close_idle_sessions(context: JobContext, payload: dict[str, Any]) -> None:
    now = utc_now()
    for connect_session in await repository.idle_connect_sessions(
        context.session, idle_since=now - IDLE_LIMIT, limit=BATCH
    ):
        connect_session.status = "CLOSED"
        connect_session.closed_at = now
        await events.session_updated(context.session, connect_session)
