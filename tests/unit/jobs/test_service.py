"""Enqueueing: a job is written with the caller's transaction; a dedupe_key keeps one unfinished."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.jobs.registry import JobContext, Registry
from leap_connect.jobs.repository import JobStatus
from leap_connect.jobs.service import cancel, enqueue
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, utc_now
from tests.unit.jobs.conftest import add_job, jobs_of_kind, load_job


async def test_a_job_is_written_only_when_the_caller_commits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        job = await enqueue(session, kind="test.note", payload={"n": 1})
        assert job is not None
        await session.rollback()
    assert await jobs_of_kind(sessionmaker, "test.note") == []

    async with sessionmaker() as session:
        job = await enqueue(session, kind="test.note", payload={"n": 2})
        await session.commit()
    [stored] = await jobs_of_kind(sessionmaker, "test.note")
    assert job is not None
    assert stored.id == job.id
    assert stored.payload == {"n": 2}
    assert stored.status == JobStatus.QUEUED
    assert stored.attempts == 0


async def test_a_dedupe_key_keeps_a_second_job_from_being_added(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    second = await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    assert second.id == first.id
    assert len(await jobs_of_kind(sessionmaker, "test.note")) == 1


async def test_enqueueing_a_waiting_job_again_sooner_brings_it_forward(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    later = utc_now() + timedelta(minutes=15)
    first = await add_job(
        sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42", run_at=later
    )
    await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    assert (await load_job(sessionmaker, first.id)).run_at <= utc_now()
    # Asking for it later than it is already due changes nothing.
    await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42", run_at=later)
    assert (await load_job(sessionmaker, first.id)).run_at <= utc_now()


async def test_cancel_withdraws_a_queued_job_and_leaves_a_running_one(
    sessionmaker: async_sessionmaker[AsyncSession], handlers: Registry, worker: Worker
) -> None:
    ran: list[str] = []

    @handlers.handler("test.fallback")
    async def fallback(context: JobContext, payload: dict[str, str]) -> None:
        async with sessionmaker() as session, session.begin():
            ran.append(payload["n"])
            assert not await cancel(session, dedupe_key="fallback:1")  # running: not withdrawn

    await add_job(sessionmaker, kind="test.fallback", payload={"n": "1"}, dedupe_key="fallback:1")
    async with sessionmaker() as session:
        assert await cancel(session, dedupe_key="fallback:1")
        await session.rollback()  # withdrawn only with the caller's commit
    assert len(await jobs_of_kind(sessionmaker, "test.fallback")) == 1
    async with sessionmaker() as session, session.begin():
        assert await cancel(session, dedupe_key="fallback:1")
        assert not await cancel(session, dedupe_key="fallback:2")
    assert await jobs_of_kind(sessionmaker, "test.fallback") == []

    await add_job(sessionmaker, kind="test.fallback", payload={"n": "2"}, dedupe_key="fallback:1")
    assert await worker.run_until_idle() == 1
    assert ran == ["2"]
    [finished] = await jobs_of_kind(sessionmaker, "test.fallback")
    assert finished.status == JobStatus.DONE


async def test_a_duplicate_leaves_the_callers_transaction_usable(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    async with sessionmaker() as session:
        await enqueue(session, kind="test.note", payload={}, dedupe_key="meters:42")
        await enqueue(session, kind="test.note", payload={"after": "duplicate"})
        await session.commit()
    assert len(await jobs_of_kind(sessionmaker, "test.note")) == 2


async def test_a_finished_job_frees_its_dedupe_key(
    sessionmaker: async_sessionmaker[AsyncSession], worker: Worker, handlers: Registry
) -> None:
    @handlers.handler("test.note")
    async def note(context: JobContext, payload: dict[str, object]) -> None:
        pass

    first = await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    assert await worker.run_once() == 1
    second = await add_job(sessionmaker, kind="test.note", payload={}, dedupe_key="meters:42")
    assert second.id != first.id


async def test_concurrent_enqueues_with_one_dedupe_key_store_one_job(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async def enqueue_and_commit_later() -> Job | None:
        async with sessionmaker() as session:
            job = await enqueue(session, kind="test.note", payload={}, dedupe_key="meters:42")
            await asyncio.sleep(0.2)  # both transactions are open at once
            await session.commit()
            return job

    results = await asyncio.gather(*(enqueue_and_commit_later() for _ in range(3)))
    [stored] = await jobs_of_kind(sessionmaker, "test.note")
    assert {job.id for job in results if job is not None} == {stored.id}


async def test_enqueue_refuses_values_the_jobs_table_cannot_hold(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(ValueError, match="kind"):
            await enqueue(session, kind="x" * 61, payload={})
        with pytest.raises(ValueError, match="dedupe_key"):
            await enqueue(session, kind="test.note", payload={}, dedupe_key="k" * 201)
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, kind="test.note", payload={}, max_attempts=0)
