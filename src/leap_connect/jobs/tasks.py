"""Tidying the jobs table: finished jobs are kept a while for operators to look at, then deleted.

Every change that notifies or retries leaves a job row behind, so without this the table, and the
index the workers claim from, would grow for ever.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from leap_connect.jobs import repository
from leap_connect.jobs.registry import JobContext, periodic_job
from leap_connect.jobs.repository import JobStatus
from leap_connect.models import utc_now

log = structlog.get_logger("leap_connect.jobs")

KEEP_FINISHED = {JobStatus.DONE: timedelta(days=7), JobStatus.FAILED: timedelta(days=30)}
# Rows per status and run: short transactions, and up to 14 million deletions a day.
BATCH = 5000


@periodic_job("jobs.delete_finished", every=timedelta(minutes=1))
async def delete_finished_jobs(context: JobContext, payload: dict[str, Any]) -> None:
    now = utc_now()
    for status, keep in KEEP_FINISHED.items():
        deleted = await repository.delete_finished(
            context.session, status=status, finished_before=now - keep, limit=BATCH
        )
        if deleted:
            log.info("finished_jobs_deleted", status=status.value, count=deleted)
