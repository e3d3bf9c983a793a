"""The portal's background work: deleting portal sessions that ran out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from leap_connect.jobs.registry import JobContext, periodic_job
from leap_connect.models import utc_now
from leap_connect.portal import repository
from leap_connect.portal.auth import IDLE_TIMEOUT

log = structlog.get_logger("leap_connect.portal")


@periodic_job("portal.delete_expired_sessions", every=timedelta(hours=1))
async def delete_expired_portal_sessions(context: JobContext, payload: dict[str, Any]) -> None:
    """Signed-out rows are deleted at once; this removes those that simply ran out."""
    now = utc_now()
    deleted = await repository.delete_expired_portal_sessions(
        context.session, now=now, idle_since=now - IDLE_TIMEOUT
    )
    log.info("expired_portal_sessions_deleted", deleted=deleted)
