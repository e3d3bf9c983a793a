"""Finished jobs are deleted when no longer needed: done ones after 7 days, failed ones after 30."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from leap_connect.jobs.registry import import_handler_modules
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, utc_now
from leap_connect.runtime import Runtime


async def test_finished_jobs_are_deleted_after_their_keeping_time(
    runtime: Runtime,
) -> None:
    now = utc_now()
    ages = {
        "done-8-days": ("DONE", timedelta(days=8)),
        "done-6-days": ("DONE", timedelta(days=6)),
        "failed-31-days": ("FAILED", timedelta(days=31)),
        "failed-29-days": ("FAILED", timedelta(days=29)),
        "queued-40-days-ago": ("QUEUED", timedelta(days=40)),  # waiting for tomorrow
    }
    async with runtime.sessionmaker() as db, db.begin():
        for name, (status, age) in ages.items():
            db.add(
                Job(
                    id=uuid.uuid4(),
                    kind="tests.old",
                    payload={"name": name},
                    status=status,
                    run_at=now + timedelta(days=1) if status == "QUEUED" else now - age,
                    attempts=1,
                    max_attempts=10,
                    finished_at=None if status == "QUEUED" else now - age,
                    created_at=now - age,
                    updated_at=now - age,
                )
            )

    import_handler_modules()
    worker = Worker(runtime)
    await worker.run_until_idle()

    async with runtime.sessionmaker() as db:
        left = {
            job.payload["name"]
            for job in await db.scalars(select(Job).where(Job.kind == "tests.old"))
        }
    assert left == {"done-6-days", "failed-29-days", "queued-40-days-ago"}
