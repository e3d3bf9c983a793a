"""The worker: claims due jobs with a lease, runs their handlers, records done, retry or failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.db import transaction
from leap_connect.jobs import repository
from leap_connect.jobs.registry import (
    JOB_MODULES_VARIABLE,
    HandlerSpec,
    JobContext,
    Registry,
    RetryLater,
    import_handler_modules,
    registry,
)
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.retry import LAST_ERROR_LIMIT, describe_error, next_run_at
from leap_connect.jobs.service import enqueue, schedule_periodic_jobs
from leap_connect.kit.observability import configure_logging
from leap_connect.models import Job, utc_now
from leap_connect.runtime import Runtime, build_runtime
from leap_connect.settings import Settings

log = structlog.get_logger("leap_connect.jobs")

DEFAULT_LEASE = timedelta(seconds=60)


class LeaseLost(Exception):
    """Another worker claimed the job after this one's lease ran out, so this run's work is void."""


def default_worker_id() -> str:
    # Host and PID say where to look; the random part tells two workers in one process apart.
    return f"{socket.gethostname()[:150]}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    """Runs jobs from the database, up to `batch_size` at once.

    A claimed job is leased for `lease`; while it runs the worker renews the lease every third of
    it, so only a worker that died or hung loses its jobs to another. `clock` is for tests.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        worker_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        poll_interval: float = 1.0,
        batch_size: int = 10,
        handlers: Registry | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.runtime = runtime
        self.sessionmaker = runtime.sessionmaker
        self.settings = runtime.settings
        self.worker_id = (worker_id or default_worker_id())[:200]
        self.lease = lease
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.handlers = handlers if handlers is not None else registry
        self.clock = clock
        self._running: set[tuple[uuid.UUID, int]] = set()

    async def run_once(self) -> int:
        """Claim up to `batch_size` due jobs, run them all, and return how many ran."""
        jobs = await self._claim(self.batch_size)
        if jobs:
            async with self._renewing_leases():
                await asyncio.gather(*(self._execute(job) for job in jobs))
        return len(jobs)

    async def run_until_idle(self, stop: asyncio.Event | None = None) -> int:
        """Run batches until nothing is due (or `stop` is set); returns how many jobs ran."""
        await self.schedule_periodic_jobs()
        total = 0
        while stop is None or not stop.is_set():
            ran = await self.run_once()
            total += ran
            if ran < self.batch_size:
                break
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs as they fall due until `stop` is set, then finish the ones already running."""
        log.info("worker_running", worker_id=self.worker_id, kinds=self.handlers.kinds())
        try:
            await self.schedule_periodic_jobs()
        except Exception:
            log.exception("periodic_jobs_not_scheduled")
        tasks: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        try:
            async with self._renewing_leases():
                while not stop.is_set():
                    free = self.batch_size - len(tasks)
                    claimed = await self._claim_or_log(free) if free else []
                    tasks.update(asyncio.create_task(self._execute(job)) for job in claimed)
                    if len(claimed) < free:
                        # Nothing more is due: look again after the poll interval, or as soon as
                        # a job finishes (it may have queued the next, as a batch job does).
                        await asyncio.wait(
                            {stopping, *tasks},
                            timeout=self.poll_interval,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    else:
                        # Every slot is taken (and more may be due): go on when one frees up.
                        await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
                    tasks = {task for task in tasks if not task.done()}
                if tasks:
                    log.info("worker_finishing_jobs", jobs=len(tasks))
                    await asyncio.gather(*tasks)
        finally:
            # Only reached with tasks still running when the worker itself is cancelled; their
            # jobs go back to the queue when the leases run out.
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def schedule_periodic_jobs(self) -> None:
        if self.handlers.periodic_specs():
            async with transaction(self.sessionmaker) as session:
                await schedule_periodic_jobs(session, self.handlers)

    # --- claiming and leases ----------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[Job]:
        now = self.clock()
        async with transaction(self.sessionmaker) as session:
            jobs = await repository.claim_due(
                session,
                now=now,
                limit=limit,
                locked_by=self.worker_id,
                lease_until=now + self.lease,
            )
        self._running.update((job.id, job.attempts) for job in jobs)
        return jobs

    async def _claim_or_log(self, limit: int) -> list[Job]:
        try:
            return await self._claim(limit)
        except Exception:
            # The database may be restarting; keep polling rather than dying.
            log.warning("job_claim_failed", exc_info=True)
            return []

    @contextlib.asynccontextmanager
    async def _renewing_leases(self) -> AsyncIterator[None]:
        done = asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases_until(done))
        try:
            yield
        finally:
            # Stopped with an event rather than cancelled, so it is never cut off mid-query.
            done.set()
            await renewer

    async def _renew_leases_until(self, done: asyncio.Event) -> None:
        # A third of the lease: two renewals in a row can fail before the lease runs out.
        interval = self.lease.total_seconds() / 3
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=interval)
            job_ids = {job_id for job_id, _ in self._running}
            if done.is_set() or not job_ids:
                continue
            now = self.clock()
            try:
                async with transaction(self.sessionmaker) as session:
                    await repository.renew_leases(
                        session, job_ids, locked_by=self.worker_id, lease_until=now + self.lease
                    )
            except Exception:
                log.warning("job_lease_renewal_failed", exc_info=True)

    # --- running a job ----------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        key = (job.id, job.attempts)
        with structlog.contextvars.bound_contextvars(
            job_id=str(job.id), job_kind=job.kind, attempt=job.attempts
        ):
            try:
                await self._execute_claimed(job)
            except Exception:
                # The outcome could not be recorded (database gone?); when the lease runs out the
                # job is claimed and run again.
                log.exception("job_outcome_not_recorded")
            finally:
                self._running.discard(key)

    async def _execute_claimed(self, job: Job) -> None:
        spec = self.handlers.get(job.kind)
        if spec is None:
            await self._give_up(job, None, f"no handler is registered for job kind {job.kind!r}")
            return
        if job.attempts > job.max_attempts:
            # Claimed again only because its lease expired each time: the job may be what kills
            # the worker, so stop feeding it to workers.
            message = f"the worker running it stopped on each of {job.max_attempts} attempts"
            await self._give_up(job, spec, message)
            return
        started = time.perf_counter()
        try:
            await self._run_handler(job, spec)
        except LeaseLost:
            log.warning("job_lease_lost", worker_id=self.worker_id)
        except RetryLater as retry:
            await self._retry_later(job, retry)
        except Exception as error:
            await self._after_failure(job, spec, error)
        else:
            log.info("job_done", duration_ms=round((time.perf_counter() - started) * 1000, 2))

    async def _run_handler(self, job: Job, spec: HandlerSpec) -> None:
        async with self.sessionmaker() as session, session.begin():
            context = JobContext(
                session=session, job=job, runtime=self.runtime, worker_id=self.worker_id
            )
            await spec.handler(context, job.payload)
            # Autoflush is off: send the handler's writes now so their errors count as its failure.
            await session.flush()
            now = self.clock()
            if not await repository.settle(session, job, status=JobStatus.DONE, finished_at=now):
                raise LeaseLost
            if context.run_again_at is not None:
                # Settling gave the dedupe_key up, so the next run takes it over.
                await enqueue(
                    session,
                    kind=job.kind,
                    payload=job.payload,
                    run_at=context.run_again_at,
                    dedupe_key=job.dedupe_key,
                    max_attempts=job.max_attempts,
                )
            if spec.every is not None:
                await self._enqueue_next_run(session, job, spec, now)

    async def _retry_later(self, job: Job, retry: RetryLater) -> None:
        run_at = self.clock() + max(retry.delay, timedelta(0))
        async with transaction(self.sessionmaker) as session:
            held = await repository.settle(
                session,
                job,
                status=JobStatus.QUEUED,
                run_at=run_at,
                locked_by=None,
                # Waiting is not failing: give the attempt back.
                attempts=Job.attempts - 1,
                last_error=f"retry later: {retry.reason}"[:LAST_ERROR_LIMIT],
            )
        if held:
            log.info("job_retry_later", run_at=run_at.isoformat(), reason=retry.reason)
        else:
            log.warning("job_lease_lost", worker_id=self.worker_id)

    async def _after_failure(self, job: Job, spec: HandlerSpec, error: Exception) -> None:
        run_at = next_run_at(
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            now=self.clock(),
            backoff=spec.backoff,
        )
        if run_at is None:
            await self._give_up(job, spec, describe_error(error), error)
            return
        async with transaction(self.sessionmaker) as session:
            held = await repository.settle(
                session,
                job,
                status=JobStatus.QUEUED,
                run_at=run_at,
                locked_by=None,
                last_error=describe_error(error),
            )
        if held:
            log.warning("job_will_retry", run_at=run_at.isoformat(), exc_info=error)
        else:
            log.warning("job_lease_lost", worker_id=self.worker_id, exc_info=error)

    async def _give_up(
        self,
        job: Job,
        spec: HandlerSpec | None,
        message: str,
        error: Exception | None = None,
    ) -> None:
        now = self.clock()
        async with transaction(self.sessionmaker) as session:
            held = await repository.settle(
                session, job, status=JobStatus.FAILED, finished_at=now, last_error=message
            )
            if held and spec is not None and spec.every is not None:
                # A periodic job that failed for good still has its next run.
                await self._enqueue_next_run(session, job, spec, now)
        if held:
            log.error("job_failed", last_error=message, exc_info=error)
        else:
            log.warning("job_lease_lost", worker_id=self.worker_id)

    async def _enqueue_next_run(
        self, session: AsyncSession, job: Job, spec: HandlerSpec, now: datetime
    ) -> None:
        assert spec.every is not None
        # Settling the job just gave up its dedupe_key, so this takes it over.
        await enqueue(
            session,
            kind=job.kind,
            payload=job.payload,
            run_at=now + spec.every,
            dedupe_key=spec.periodic_dedupe_key,
            max_attempts=job.max_attempts,
        )


@contextlib.asynccontextmanager
async def in_process_worker(
    runtime: Runtime,
    *,
    lease: timedelta = DEFAULT_LEASE,
    poll_interval: float = 1.0,
    batch_size: int = 10,
    handlers: Registry | None = None,
) -> AsyncIterator[Worker]:
    """A worker running in this event loop for the life of the block (the demo's, or a test's)."""
    if handlers is None:
        import_handler_modules(os.environ.get(JOB_MODULES_VARIABLE))
    worker = Worker(
        runtime,
        lease=lease,
        poll_interval=poll_interval,
        batch_size=batch_size,
        handlers=handlers,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    once: bool = False,
    lease: timedelta = DEFAULT_LEASE,
    poll_interval: float = 1.0,
    batch_size: int = 10,
) -> None:
    """The `leap-connect worker` process: run jobs until `stop` is set or SIGTERM/SIGINT arrives.

    The first signal lets running jobs finish; a second abandons them to their leases. With `once`,
    run what is due now and return.
    """
    configure_logging(
        settings.log_level, settings.log_format, development=settings.env == "development"
    )
    modules = import_handler_modules(os.environ.get(JOB_MODULES_VARIABLE))
    stop = stop or asyncio.Event()
    runtime = build_runtime(settings)
    worker = Worker(runtime, lease=lease, poll_interval=poll_interval, batch_size=batch_size)
    log.info("worker_started", worker_id=worker.worker_id, handler_modules=modules)
    main = asyncio.create_task(worker.run_until_idle(stop) if once else worker.run(stop))
    try:
        with _stop_on_signals(stop, main):
            await main
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        log.warning("worker_abandoned_jobs", detail="they run again when their leases expire")
    finally:
        await runtime.close()
    log.info("worker_stopped", worker_id=worker.worker_id)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event, main: asyncio.Task[Any]) -> Iterator[None]:
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("worker_stopping_now", signal=name)
            main.cancel()
        else:
            log.info("worker_stopping", signal=name, detail="finishing running jobs")
            stop.set()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Signal handlers only work in the main thread of a Unix process.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
