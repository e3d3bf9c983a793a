"""Job handlers for the worker process tests; workers import them via LEAP_CONNECT_JOB_MODULES."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from leap_connect.jobs.registry import JobContext, job_handler
from leap_connect.jobs.service import enqueue

FAR_FUTURE = datetime.fromisoformat("2100-01-01T00:00:00+00:00")


@job_handler("test.stalls_on_first_attempt")
async def stall_on_first_attempt(context: JobContext, payload: dict[str, Any]) -> None:
    """Hangs on its first attempt (to be killed there); on a later one, records its result."""
    directory = Path(payload["directory"])
    (directory / f"attempt-{context.job.attempts}").touch()
    if context.job.attempts == 1:
        await asyncio.Event().wait()
    await _record_result(context)


@job_handler("test.takes_a_moment")
async def take_a_moment(context: JobContext, payload: dict[str, Any]) -> None:
    (Path(payload["directory"]) / "started").touch()
    await asyncio.sleep(float(payload.get("seconds", 0)))
    await _record_result(context)


async def _record_result(context: JobContext) -> None:
    # A database write in the job's transaction; due far in the future so no worker runs it.
    await enqueue(
        context.session,
        kind="test.result",
        payload={"job_id": str(context.job.id), "attempt": context.job.attempts},
        run_at=FAR_FUTURE,
    )
