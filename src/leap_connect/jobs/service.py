"""Enqueueing jobs in the caller's transaction, so a job is written atomically with its change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.jobs import repository
from leap_connect.jobs.registry import KIND_MAX_LENGTH, Registry, registry
from leap_connect.jobs.repository import JobStatus
from leap_connect.models import Job, utc_now

DEDUPE_KEY_MAX_LENGTH = 200  # jobs.dedupe_key is a VARCHAR(200)


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 10,
) -> Job | None:
    """Add a job that runs at `run_at` (now by default); it is written when the caller commits.

    With a `dedupe_key`, no second unfinished job with that key is added: the one already queued or
    running is returned instead (brought forward to `run_at` if it was waiting for later), or None
    if it is not visible to this transaction yet (another one inserted it and has not committed).
    Finished jobs do not block the key.
    """
    if not kind or len(kind) > KIND_MAX_LENGTH:
        raise ValueError(f"job kind {kind!r} must be 1 to {KIND_MAX_LENGTH} characters")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_MAX_LENGTH:
        raise ValueError(f"dedupe_key must be 1 to {DEDUPE_KEY_MAX_LENGTH} characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utc_now()
    values: dict[str, Any] = {
        # Set here rather than at flush so the caller can refer to job.id straight away.
        "id": uuid.uuid4(),
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        return job
    job_or_none = await repository.insert_unless_duplicate(session, values)
    if job_or_none is not None:
        return job_or_none
    existing = await repository.get_unfinished_by_dedupe_key(session, dedupe_key)
    if existing is not None and existing.status == JobStatus.QUEUED:
        existing.run_at = min(existing.run_at, values["run_at"])
    return existing


async def cancel(session: AsyncSession, *, dedupe_key: str) -> bool:
    """Withdraw the job queued under `dedupe_key`, when the caller commits: for work queued as a
    fall-back that the caller has just done itself. One a worker already runs is left to finish
    (its handler must find the work done). False when there was none to withdraw."""
    return await repository.delete_queued_by_dedupe_key(session, dedupe_key)


async def schedule_periodic_jobs(session: AsyncSession, jobs: Registry = registry) -> None:
    """Make sure every periodic job has a run queued (or running); a no-op for those that do."""
    for spec in jobs.periodic_specs():
        await enqueue(session, kind=spec.kind, payload={}, dedupe_key=spec.periodic_dedupe_key)
