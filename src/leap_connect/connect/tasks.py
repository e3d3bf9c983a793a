"""Background work of the journey: recording grants a callback kept but could not record,
closing sessions nobody has touched for 24 hours, and the grants' lifecycle (revocations the
utility has not confirmed yet, endings heard elsewhere, lapsed grants and the daily check)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import structlog

from leap_connect.connect import authorizations, events, lifecycle, repository
from leap_connect.jobs.registry import JobContext, job_handler, periodic_job
from leap_connect.meters import grant_endings
from leap_connect.models import utc_now

log = structlog.get_logger("leap_connect.connect.tasks")

IDLE_LIMIT = timedelta(hours=24)
BATCH = 500


@job_handler(authorizations.RECORD_JOB_KIND)
async def record_authorization(context: JobContext, payload: dict[str, Any]) -> None:
    """Queued with every kept grant, and withdrawn when the callback's request records it: runs
    only when the request could not (a database error, a restart)."""
    if await authorizations.record_kept_grant(context.session, payload):
        log.info("authorization_recorded_by_job", authorization_id=payload["authorization_id"])


@job_handler(lifecycle.REVOKE_JOB_KIND)
async def revoke_at_utility(context: JobContext, payload: dict[str, Any]) -> None:
    """A partner's revocation the utility did not confirm at once: tried again until it does.
    The utility's refusal is saved in a transaction of its own, so the partner sees it."""
    authorization_id = uuid.UUID(str(payload["authorization_id"]))
    error = await lifecycle.retry_revocation(
        context.session,
        authorization_id=authorization_id,
        connectors=context.runtime.connectors,
        encryptor=context.runtime.encryptor,
        replaced="replaced_by" in payload,
    )
    if error is not None:
        async with context.sessionmaker() as session, session.begin():
            await repository.set_revocation_error(session, authorization_id, error)
        raise RevocationNotConfirmed(error)


class RevocationNotConfirmed(Exception):
    """The utility did not confirm the revocation: the job is tried again."""


@job_handler(grant_endings.ENDED_JOB_KIND)
async def authorization_ended(context: JobContext, payload: dict[str, Any]) -> None:
    """News of an ending heard below this layer (a UtilityAPI webhook, a refused data request)."""
    await lifecycle.end_grant_by_id(
        context.session,
        uuid.UUID(str(payload["authorization_id"])),
        status="EXPIRED" if payload.get("status") == "EXPIRED" else "REVOKED",
    )


@periodic_job("connect.check_authorizations", every=timedelta(minutes=15))
async def check_authorizations(context: JobContext, payload: dict[str, Any]) -> None:
    """Grants past their end become EXPIRED; each standing grant is checked at its utility daily."""
    report = await lifecycle.check_grants(
        context.session,
        connectors=context.runtime.connectors,
        encryptor=context.runtime.encryptor,
    )
    if report != lifecycle.CheckReport():
        log.info("authorizations_checked", **dataclasses.asdict(report))
    if report.more:
        context.run_again_at = utc_now()


@periodic_job("connect.close_idle_sessions", every=timedelta(minutes=1))
async def close_idle_sessions(context: JobContext, payload: dict[str, Any]) -> None:
    now = utc_now()
    for connect_session in await repository.idle_connect_sessions(
        context.session, idle_since=now - IDLE_LIMIT, limit=BATCH
    ):
        connect_session.status = "CLOSED"
        connect_session.closed_at = now
        await events.session_updated(context.session, connect_session)
