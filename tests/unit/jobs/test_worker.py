"""A worker runs each due job once, commits its writes with the job, and retries or fails it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.db import transaction
from leap_connect.jobs.registry import JobContext, Registry, RetryLater
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.service import enqueue
from leap_connect.jobs.worker import Worker, in_process_worker
from leap_connect.models import Job
from leap_connect.runtime import Runtime
from tests.unit.jobs.conftest import Clock, add_job, jobs_of_kind, load_job

FAR_FUTURE = datetime.fromisoformat("2100-01-01T00:00:00+00:00")


def assert_about(actual: datetime | None, expected: datetime) -> None:
    assert actual is not None
    assert abs(actual - expected) < timedelta(seconds=5), (actual, expected)


async def write_follow_up(context: JobContext) -> None:
    """A write in the handler's transaction; far in the future so no worker in the test runs it."""
    await enqueue(
        context.session,
        kind="test.follow_up",
        payload={"after": str(context.job.id)},
        run_at=FAR_FUTURE,
    )


async def test_a_due_job_runs_once_and_is_marked_done(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    calls: list[dict[str, Any]] = []

    @handlers.handler("test.record")
    async def record(context: JobContext, payload: dict[str, Any]) -> None:
        calls.append(payload)

    job = await add_job(sessionmaker, kind="test.record", payload={"meter": "42"})
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0

    assert calls == [{"meter": "42"}]
    done = await load_job(sessionmaker, job.id)
    assert done.status == JobStatus.DONE
    assert done.attempts == 1
    assert done.finished_at is not None
    assert done.lease_expires_at is None


async def test_a_job_waits_for_its_run_at(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    handlers.handler("test.record")(_do_nothing)
    await add_job(sessionmaker, kind="test.record", payload={}, run_at=clock() + timedelta(hours=1))
    assert await worker.run_once() == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert await worker.run_once() == 1


async def test_the_handlers_writes_commit_with_the_job(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    @handlers.handler("test.writes")
    async def writes(context: JobContext, payload: dict[str, Any]) -> None:
        await write_follow_up(context)

    job = await add_job(sessionmaker, kind="test.writes", payload={})
    await worker.run_once()
    assert (await load_job(sessionmaker, job.id)).status == JobStatus.DONE
    assert len(await jobs_of_kind(sessionmaker, "test.follow_up")) == 1


async def test_a_failing_handler_leaves_no_partial_write_and_no_secret(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    @handlers.handler("test.writes_then_fails")
    async def writes_then_fails(context: JobContext, payload: dict[str, Any]) -> None:
        await write_follow_up(context)
        await context.session.flush()
        raise RuntimeError("token endpoint said no to client_secret=hunter2")

    job = await add_job(sessionmaker, kind="test.writes_then_fails", payload={})
    await worker.run_once()

    assert await jobs_of_kind(sessionmaker, "test.follow_up") == []
    failed = await load_job(sessionmaker, job.id)
    assert failed.status == JobStatus.QUEUED
    assert failed.attempts == 1
    assert failed.locked_by is None
    assert failed.last_error is not None
    assert failed.last_error.startswith("RuntimeError")
    assert "hunter2" not in failed.last_error


async def test_a_failed_job_is_retried_after_its_backoff_then_succeeds(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    attempts_seen: list[int] = []

    @handlers.handler("test.flaky", backoff=lambda failures: timedelta(minutes=failures))
    async def flaky(context: JobContext, payload: dict[str, Any]) -> None:
        attempts_seen.append(context.job.attempts)
        if context.job.attempts < 3:
            raise ConnectionError("utility is down")
        await write_follow_up(context)

    job = await add_job(sessionmaker, kind="test.flaky", payload={})
    await worker.run_once()
    assert_about((await load_job(sessionmaker, job.id)).run_at, clock() + timedelta(minutes=1))
    assert await worker.run_once() == 0, "not before the backoff has passed"

    clock.advance(timedelta(minutes=1, seconds=1))
    await worker.run_once()
    assert_about((await load_job(sessionmaker, job.id)).run_at, clock() + timedelta(minutes=2))

    clock.advance(timedelta(minutes=2, seconds=1))
    await worker.run_once()
    done = await load_job(sessionmaker, job.id)
    assert attempts_seen == [1, 2, 3]
    assert done.status == JobStatus.DONE
    assert len(await jobs_of_kind(sessionmaker, "test.follow_up")) == 1


async def test_a_job_fails_for_good_after_max_attempts(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    calls = 0

    @handlers.handler("test.broken", backoff=lambda _: timedelta(0))
    async def broken(context: JobContext, payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("payload refers to a deleted meter")

    job = await add_job(
        sessionmaker, kind="test.broken", payload={}, max_attempts=3, dedupe_key="broken:1"
    )
    for _ in range(5):
        await worker.run_once()

    failed = await load_job(sessionmaker, job.id)
    assert calls == 3
    assert failed.status == JobStatus.FAILED
    assert failed.attempts == 3
    assert failed.finished_at is not None
    assert failed.last_error is not None
    assert failed.last_error.startswith("ValueError")
    assert failed.dedupe_key is None, "a failed job does not block enqueueing the work again"


async def test_retry_later_runs_the_job_again_without_using_an_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    meters_listed = False

    @handlers.handler("test.discover_meters")
    async def discover_meters(context: JobContext, payload: dict[str, Any]) -> None:
        await write_follow_up(context)
        if not meters_listed:
            raise RetryLater(timedelta(minutes=5), "meters not listed yet")

    job = await add_job(sessionmaker, kind="test.discover_meters", payload={}, max_attempts=1)
    await worker.run_once()

    waiting = await load_job(sessionmaker, job.id)
    assert waiting.status == JobStatus.QUEUED
    assert waiting.attempts == 0
    assert waiting.last_error == "retry later: meters not listed yet"
    assert_about(waiting.run_at, clock() + timedelta(minutes=5))
    assert await jobs_of_kind(sessionmaker, "test.follow_up") == []

    meters_listed = True
    clock.advance(timedelta(minutes=5, seconds=1))
    await worker.run_once()
    done = await load_job(sessionmaker, job.id)
    assert done.status == JobStatus.DONE
    assert done.attempts == 1
    assert len(await jobs_of_kind(sessionmaker, "test.follow_up")) == 1


async def test_a_job_of_an_unknown_kind_fails_with_a_clear_error(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker
) -> None:
    job = await add_job(sessionmaker, kind="test.nobody_handles_this", payload={})
    assert await worker.run_once() == 1
    failed = await load_job(sessionmaker, job.id)
    assert failed.status == JobStatus.FAILED
    assert failed.last_error == "no handler is registered for job kind 'test.nobody_handles_this'"


async def mark_running(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: Job,
    *,
    locked_by: str,
    attempts: int,
    lease_expires_at: datetime,
) -> None:
    """As if a worker had claimed the job (and perhaps died holding it)."""
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status=JobStatus.RUNNING,
                locked_by=locked_by,
                attempts=attempts,
                lease_expires_at=lease_expires_at,
            )
        )


async def test_a_running_job_is_claimable_again_once_its_lease_expires(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    handlers.handler("test.record")(_do_nothing)
    job = await add_job(sessionmaker, kind="test.record", payload={})
    await mark_running(
        sessionmaker,
        job,
        locked_by="worker-that-died",
        attempts=1,
        lease_expires_at=clock() + timedelta(seconds=30),
    )

    assert await worker.run_once() == 0, "the lease still holds"
    clock.advance(timedelta(seconds=31))
    assert await worker.run_once() == 1

    done = await load_job(sessionmaker, job.id)
    assert done.status == JobStatus.DONE
    assert done.attempts == 2
    assert done.locked_by == "test-worker"


async def test_a_job_whose_worker_died_on_every_attempt_fails_without_running(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    calls = 0

    @handlers.handler("test.crashes_the_worker")
    async def crashes_the_worker(context: JobContext, payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1

    job = await add_job(sessionmaker, kind="test.crashes_the_worker", payload={}, max_attempts=2)
    await mark_running(
        sessionmaker, job, locked_by="dead", attempts=2, lease_expires_at=clock() - timedelta(1)
    )
    await worker.run_once()

    failed = await load_job(sessionmaker, job.id)
    assert calls == 0
    assert failed.status == JobStatus.FAILED
    assert failed.last_error is not None
    assert "stopped on each of 2 attempts" in failed.last_error


async def test_a_worker_that_lost_its_lease_discards_its_work(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    @handlers.handler("test.too_slow")
    async def too_slow(context: JobContext, payload: dict[str, Any]) -> None:
        await write_follow_up(context)
        # Meanwhile the lease ran out and another worker claimed the job.
        await mark_running(
            context.sessionmaker,
            context.job,
            locked_by="other-worker",
            attempts=context.job.attempts + 1,
            lease_expires_at=context.job.run_at + timedelta(hours=1),
        )

    job = await add_job(sessionmaker, kind="test.too_slow", payload={})
    await worker.run_once()

    assert await jobs_of_kind(sessionmaker, "test.follow_up") == []
    taken = await load_job(sessionmaker, job.id)
    assert taken.status == JobStatus.RUNNING
    assert taken.locked_by == "other-worker"


async def test_a_long_job_renews_its_lease_so_no_other_worker_takes_it(
    runtime: Runtime, sessionmaker: async_sessionmaker[AsyncSession], handlers: Registry
) -> None:
    started = asyncio.Event()
    runs = 0

    @handlers.handler("test.long")
    async def long(context: JobContext, payload: dict[str, Any]) -> None:
        nonlocal runs
        runs += 1
        started.set()
        await asyncio.sleep(1.2)  # three times the lease

    lease = timedelta(seconds=0.4)
    first = Worker(runtime, lease=lease, handlers=handlers, worker_id="first")
    second = Worker(runtime, lease=lease, handlers=handlers, worker_id="second")
    job = await add_job(sessionmaker, kind="test.long", payload={})

    running = asyncio.create_task(first.run_once())
    await started.wait()
    for _ in range(4):
        await asyncio.sleep(0.25)
        assert await second.run_once() == 0
    await running

    done = await load_job(sessionmaker, job.id)
    assert runs == 1
    assert done.status == JobStatus.DONE
    assert done.locked_by == "first"


async def test_a_periodic_job_queues_its_next_run_when_it_finishes(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    ticks = 0

    @handlers.periodic("test.close_idle_sessions", every=timedelta(minutes=1))
    async def close_idle_sessions(context: JobContext, payload: dict[str, Any]) -> None:
        nonlocal ticks
        ticks += 1

    await worker.schedule_periodic_jobs()
    await worker.schedule_periodic_jobs()  # every worker does this when it starts
    assert len(await jobs_of_kind(sessionmaker, "test.close_idle_sessions")) == 1

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    jobs = await jobs_of_kind(sessionmaker, "test.close_idle_sessions")
    [waiting] = [job for job in jobs if job.status == JobStatus.QUEUED]
    assert waiting.dedupe_key == "periodic:test.close_idle_sessions"
    assert_about(waiting.run_at, clock() + timedelta(minutes=1))

    clock.advance(timedelta(minutes=1, seconds=1))
    assert await worker.run_once() == 1
    assert ticks == 2


async def test_a_periodic_job_that_fails_for_good_still_runs_next_time(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    handlers: Registry,
    clock: Clock,
) -> None:
    @handlers.periodic("test.refresh_tokens", every=timedelta(minutes=10))
    async def refresh_tokens(context: JobContext, payload: dict[str, Any]) -> None:
        raise RuntimeError("token endpoint down")

    job = await add_job(
        sessionmaker,
        kind="test.refresh_tokens",
        payload={},
        dedupe_key="periodic:test.refresh_tokens",
        max_attempts=1,
    )
    await worker.run_once()

    assert (await load_job(sessionmaker, job.id)).status == JobStatus.FAILED
    [waiting] = [
        job
        for job in await jobs_of_kind(sessionmaker, "test.refresh_tokens")
        if job.status == JobStatus.QUEUED
    ]
    assert_about(waiting.run_at, clock() + timedelta(minutes=10))


async def test_an_in_process_worker_runs_jobs_enqueued_while_it_runs_and_stops_cleanly(
    runtime: Runtime, sessionmaker: async_sessionmaker[AsyncSession], handlers: Registry
) -> None:
    done = asyncio.Event()
    finished_while_stopping = False

    @handlers.handler("test.signal")
    async def signal(context: JobContext, payload: dict[str, Any]) -> None:
        done.set()

    @handlers.handler("test.slow")
    async def slow(context: JobContext, payload: dict[str, Any]) -> None:
        nonlocal finished_while_stopping
        await asyncio.sleep(0.3)
        finished_while_stopping = True

    async with in_process_worker(runtime, poll_interval=0.05, handlers=handlers) as worker:
        await asyncio.sleep(0.1)
        await add_job(sessionmaker, kind="test.signal", payload={})
        await asyncio.wait_for(done.wait(), timeout=5)
        await add_job(sessionmaker, kind="test.slow", payload={})
        await asyncio.sleep(0.2)  # claimed and running when the block ends

    assert finished_while_stopping, "stopping lets running jobs finish"
    [slow_job] = await jobs_of_kind(sessionmaker, "test.slow")
    assert slow_job.status == JobStatus.DONE
    assert slow_job.locked_by == worker.worker_id


async def _do_nothing(context: JobContext, payload: dict[str, Any]) -> None:
    pass
