"""`leap-connect worker` processes: one killed mid-job loses nothing; SIGTERM lets a job finish."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.jobs.repository import JobStatus
from tests.unit.jobs.conftest import add_job, jobs_of_kind, load_job

REPOSITORY = Path(__file__).resolve().parents[3]
LEAP_CONNECT = Path(sys.executable).with_name("leap-connect")
HANDLERS = "tests.functional.jobs.handlers"


class Workers:
    """Starts `leap-connect worker` processes on the test database and never leaves one behind."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.directory = directory
        self.env = {
            **os.environ,
            "LEAP_CONNECT_DATABASE_URL": database_url,
            "LEAP_CONNECT_DATA_DIR": str(directory),
            "LEAP_CONNECT_JOB_MODULES": HANDLERS,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])
            ),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(LEAP_CONNECT), "worker", "--lease-seconds", "1", "--poll-seconds", "0.1", *args],
            env=self.env,
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.directory.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(database_url, tmp_path)
    yield started
    started.stop_all()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, workers: Workers) -> None:
    deadline = time.monotonic() + 20
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}\n{workers.logs()}")
        await asyncio.sleep(0.05)


async def test_a_job_whose_worker_is_killed_mid_run_is_finished_by_another_worker(
    sessionmaker: async_sessionmaker[AsyncSession], workers: Workers, tmp_path: Path
) -> None:
    job = await add_job(
        sessionmaker, kind="test.stalls_on_first_attempt", payload={"directory": str(tmp_path)}
    )

    async def started(attempt: int) -> bool:
        return (tmp_path / f"attempt-{attempt}").exists()

    first = workers.start()
    await eventually(lambda: started(1), "the first worker runs the job", workers)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    abandoned = await load_job(sessionmaker, job.id)
    assert abandoned.status == JobStatus.RUNNING
    assert abandoned.lease_expires_at is not None

    second = workers.start()

    async def done() -> bool:
        return (await load_job(sessionmaker, job.id)).status == JobStatus.DONE

    await eventually(done, "the second worker finishes the job", workers)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0, workers.logs()

    finished = await load_job(sessionmaker, job.id)
    assert finished.attempts == 2
    assert finished.locked_by != abandoned.locked_by
    [result] = await jobs_of_kind(sessionmaker, "test.result")
    assert result.payload == {"job_id": str(job.id), "attempt": 2}
    assert not (tmp_path / "attempt-3").exists()


async def test_sigterm_lets_the_running_job_finish_before_the_worker_exits(
    sessionmaker: async_sessionmaker[AsyncSession], workers: Workers, tmp_path: Path
) -> None:
    job = await add_job(
        sessionmaker,
        kind="test.takes_a_moment",
        payload={"directory": str(tmp_path), "seconds": 0.5},
    )
    worker = workers.start()

    async def started() -> bool:
        return (tmp_path / "started").exists()

    await eventually(started, "the worker runs the job", workers)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, workers.logs()

    assert (await load_job(sessionmaker, job.id)).status == JobStatus.DONE
    assert len(await jobs_of_kind(sessionmaker, "test.result")) == 1


async def test_worker_once_runs_the_due_jobs_and_exits(
    sessionmaker: async_sessionmaker[AsyncSession], workers: Workers, tmp_path: Path
) -> None:
    jobs = [
        await add_job(
            sessionmaker, kind="test.takes_a_moment", payload={"directory": str(tmp_path)}
        )
        for _ in range(3)
    ]
    unknown = await add_job(sessionmaker, kind="test.not_registered_anywhere", payload={})

    assert workers.start("--once", "--concurrency", "2").wait(timeout=20) == 0, workers.logs()

    for job in jobs:
        assert (await load_job(sessionmaker, job.id)).status == JobStatus.DONE
    failed = await load_job(sessionmaker, unknown.id)
    assert failed.status == JobStatus.FAILED
    assert "no handler is registered" in (failed.last_error or "")
    assert '"event": "job_failed"' in workers.logs()
