"""Workers sharing one database never run a job twice, and together run every job exactly once.

On PostgreSQL, SKIP LOCKED hands each job to one worker. SQLite's documented limit is one worker,
but its conditional claim still keeps two from both running a job, so this runs there too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from leap_connect.db import transaction
from leap_connect.jobs.registry import JobContext, Registry
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.service import enqueue
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job
from leap_connect.runtime import build_runtime
from leap_connect.settings import Settings
from tests.conftest import TEST_DATABASE_URL

# Fewer on SQLite, where one writer at a time makes them slower.
JOBS = 300 if TEST_DATABASE_URL else 100


async def test_two_workers_run_every_job_exactly_once_and_never_at_the_same_time(
    database_url: str, settings: Settings
) -> None:
    handlers = Registry()
    running: set[uuid.UUID] = set()
    overlapping: list[uuid.UUID] = []
    runs: Counter[uuid.UUID] = Counter()
    runs_by_worker: Counter[str] = Counter()
    all_ran = asyncio.Event()

    @handlers.handler("test.count")
    async def count(context: JobContext, payload: dict[str, Any]) -> None:
        job_id = context.job.id
        if job_id in running:
            overlapping.append(job_id)
        running.add(job_id)
        await asyncio.sleep(0.002)
        running.discard(job_id)
        runs[job_id] += 1
        runs_by_worker[context.worker_id] += 1
        if runs.total() >= JOBS:
            all_ran.set()

    # A runtime (and engine) each, as two processes would have: their claims race in the database.
    runtimes = [build_runtime(settings) for _ in range(2)]
    try:
        async with transaction(runtimes[0].sessionmaker) as session:
            for number in range(JOBS):
                await enqueue(session, kind="test.count", payload={"number": number})
        workers = [
            Worker(
                runtime,
                worker_id=name,
                lease=timedelta(seconds=30),
                poll_interval=0.02,
                batch_size=10,
                handlers=handlers,
            )
            for runtime, name in zip(runtimes, ("a", "b"), strict=True)
        ]
        stop = asyncio.Event()
        running_workers = [asyncio.create_task(worker.run(stop)) for worker in workers]
        await asyncio.wait_for(all_ran.wait(), timeout=20)
        await asyncio.sleep(0.2)  # room for a duplicate run to show up
        stop.set()
        await asyncio.gather(*running_workers)

        async with runtimes[0].sessionmaker() as session:
            statuses = dict(
                (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
            )
            attempts = set(await session.scalars(select(Job.attempts).distinct()))
    finally:
        for runtime in runtimes:
            await runtime.close()

    assert overlapping == []
    assert len(runs) == JOBS
    assert set(runs.values()) == {1}
    assert statuses == {JobStatus.DONE: JOBS}
    assert attempts == {1}
    assert runs_by_worker["a"] > 0
    assert runs_by_worker["b"] > 0
