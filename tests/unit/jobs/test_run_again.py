"""A handler that sets `run_again_at` has its job queued again, key and all, when it is done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.jobs.registry import JobContext, Registry
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.worker import Worker
from tests.unit.jobs.conftest import Clock, add_job, jobs_of_kind


async def test_a_batch_job_runs_again_when_it_asks_and_not_when_it_does_not(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    batches = [3, 2]  # work left before each run

    @handlers.handler("test.send_batch")
    async def send_batch(context: JobContext, payload: dict[str, Any]) -> None:
        batches.pop(0)
        if batches:
            context.run_again_at = clock() + timedelta(minutes=1)

    await add_job(
        sessionmaker, kind="test.send_batch", payload={"endpoint": "e-1"}, dedupe_key="batch:e-1"
    )
    assert await worker.run_once() == 1

    first, second = sorted(
        await jobs_of_kind(sessionmaker, "test.send_batch"), key=lambda job: job.created_at
    )
    assert first.status == JobStatus.DONE and first.dedupe_key is None
    assert second.status == JobStatus.QUEUED
    assert second.dedupe_key == "batch:e-1"
    assert second.payload == {"endpoint": "e-1"}
    assert await worker.run_once() == 0  # not due yet

    clock.advance(timedelta(minutes=1, seconds=1))
    assert await worker.run_once() == 1
    assert batches == []
    statuses = [job.status for job in await jobs_of_kind(sessionmaker, "test.send_batch")]
    assert statuses == [JobStatus.DONE, JobStatus.DONE]
