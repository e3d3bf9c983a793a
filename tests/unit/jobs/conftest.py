"""Job test fixtures: a runtime on the test database, a private registry, a movable clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.db import transaction
from leap_connect.jobs.registry import Registry
from leap_connect.jobs.service import enqueue
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, utc_now
from leap_connect.runtime import Runtime, build_runtime
from leap_connect.settings import Settings


class Clock:
    """The worker's idea of now: real time, jumped ahead by hand so retries and leases fall due."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The worker's process objects alone, without an app."""
    runtime = build_runtime(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
def sessionmaker(runtime: Runtime) -> async_sessionmaker[AsyncSession]:
    return runtime.sessionmaker


@pytest.fixture
def handlers() -> Registry:
    return Registry()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(runtime: Runtime, handlers: Registry, clock: Clock) -> Worker:
    return Worker(
        runtime,
        worker_id="test-worker",
        lease=timedelta(seconds=30),
        handlers=handlers,
        clock=clock,
    )


async def add_job(sessionmaker: async_sessionmaker[AsyncSession], **kwargs: Any) -> Job:
    async with transaction(sessionmaker) as session:
        job = await enqueue(session, **kwargs)
    assert job is not None
    return job


async def load_job(sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> Job:
    async with sessionmaker() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def jobs_of_kind(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Job]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Job).where(Job.kind == kind)))
