"""Queries on the jobs table: insert without duplicates, claim with a lease, settle a claim."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import Job


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Due and waiting, or running on a worker whose lease ran out (it died or hung)."""
    return or_(
        and_(Job.status == JobStatus.QUEUED, Job.run_at <= now),
        and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
    )


def _held(job: Job) -> ColumnElement[bool]:
    """Still this claim's: a worker that lost its lease must not settle the job for its thief.

    `attempts` grows with every claim, so it tells this claim from a later one by the same worker.
    """
    return and_(
        Job.id == job.id,
        Job.status == JobStatus.RUNNING,
        Job.locked_by == job.locked_by,
        Job.attempts == job.attempts,
    )


async def insert_unless_duplicate(session: AsyncSession, values: dict[str, Any]) -> Job | None:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING; the new job, or None if the key was taken.

    Letting the unique constraint decide is what makes this safe when two transactions enqueue the
    same key at once: on PostgreSQL the second waits for the first and then does nothing; SQLite
    runs one writer at a time. Unlike catching an IntegrityError, it leaves the caller's
    transaction usable.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job)
    )
    return (await session.scalars(statement)).one_or_none()


async def get_unfinished_by_dedupe_key(session: AsyncSession, dedupe_key: str) -> Job | None:
    # Finished jobs give their key up (see `settle`), so any holder of the key is unfinished.
    return (await session.scalars(select(Job).where(Job.dedupe_key == dedupe_key))).one_or_none()


async def delete_queued_by_dedupe_key(session: AsyncSession, dedupe_key: str) -> bool:
    """Delete the job waiting under `dedupe_key`; False if none waits (a running one stays).

    On PostgreSQL a worker claiming it at the same moment holds its row lock: this waits, then
    finds it RUNNING and leaves it. On SQLite the claim's conditional UPDATE finds it gone.
    """
    result = await session.execute(
        delete(Job)
        .where(Job.dedupe_key == dedupe_key, Job.status == JobStatus.QUEUED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, locked_by: str, lease_until: datetime
) -> list[Job]:
    """Mark up to `limit` claimable jobs RUNNING for `locked_by` and return them as claimed."""
    # FOR UPDATE SKIP LOCKED lets workers on PostgreSQL take disjoint batches without waiting on
    # each other; SQLAlchemy leaves it out on SQLite, which has no row locks.
    # Two queries rather than one OR: each can walk its own index in order, so a claim stays cheap
    # however long the backlog (one OR made PostgreSQL sort every due job on each claim).
    waiting = (
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, Job.run_at <= now)
        .order_by(Job.run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(waiting))
    if len(ids) < limit:
        abandoned = (
            select(Job.id)
            .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
            .order_by(Job.lease_expires_at)
            .limit(limit - len(ids))
            .with_for_update(skip_locked=True)
        )
        ids += list(await session.scalars(abandoned))
    if not ids:
        return []
    # Checking claimability again makes the claim conditional: on SQLite, where nothing is locked,
    # a job another worker took since the SELECT is no longer claimable and is left out.
    claim = (
        update(Job)
        .where(Job.id.in_(ids), _claimable(now))
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            locked_by=locked_by,
            lease_expires_at=lease_until,
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    return list(await session.scalars(claim))


async def renew_leases(
    session: AsyncSession, job_ids: Collection[uuid.UUID], *, locked_by: str, lease_until: datetime
) -> int:
    """Push the lease of the jobs this worker is still running; returns how many it still holds."""
    if not job_ids:
        return 0
    statement = (
        update(Job)
        .where(
            Job.id.in_(job_ids),
            Job.locked_by == locked_by,
            Job.status == JobStatus.RUNNING,
        )
        .values(lease_expires_at=lease_until)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return len(list(await session.scalars(statement)))


async def settle(session: AsyncSession, job: Job, **values: Any) -> bool:
    """Update a claimed job if this claim still holds it; False means the lease was lost.

    DONE and FAILED jobs give up their dedupe_key so the same work can be enqueued again.
    """
    if values.get("status") in (JobStatus.DONE, JobStatus.FAILED):
        values.setdefault("dedupe_key", None)
    statement = (
        update(Job)
        .where(_held(job))
        .values(lease_expires_at=None, **values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(statement)).one_or_none() is not None


async def delete_finished(
    session: AsyncSession, *, status: JobStatus, finished_before: datetime, limit: int
) -> int:
    """Delete up to `limit` jobs that finished with `status` before `finished_before`."""
    oldest = (
        select(Job.id)
        .where(Job.status == status, Job.finished_at < finished_before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(Job).where(Job.id.in_(oldest)))
    return int(getattr(result, "rowcount", 0) or 0)
