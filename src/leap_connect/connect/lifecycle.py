"""A grant's life after the journey: it lapses, the customer or the partner revokes it, or the
utility says it ended; each ending is recorded once, with its events.

A COMPLETED authorization ends as REVOKED or EXPIRED (`end_grant`), which sends
`connect_session.authorization_updated`, and per meter still on it `meter.authorization.revoked`
(or `meter.updated`, when it expired); its tokens are forgotten, and its meters' interval requests
answer 409. The partner's revocation ends the grant at the utility first; when the utility fails,
a job tries again until it answers, and the authorization shows the failure meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import events, repository
from leap_connect.connect.service import grant_awaits_recording
from leap_connect.jobs.service import enqueue
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.problems import Conflict, NotFound
from leap_connect.meters import repository as meters_repository
from leap_connect.meters.grant_endings import Ending, announce_revoked_meter
from leap_connect.meters.service import emit_meter_event
from leap_connect.models import ConnectSession, UtilityAuthorization, utc_now
from leap_connect.utilities.connector import Connector, ConnectorError, Grant, Tokens

log = structlog.get_logger("leap_connect.connect.lifecycle")

ENDED_STATUSES = ("REVOKED", "EXPIRED")
# How often the utility is asked whether a grant still stands; after a failed ask, sooner.
CHECK_EVERY = timedelta(days=1)
CHECK_AGAIN_AFTER_FAILURE = timedelta(hours=1)
BATCH = 100
REVOKE_JOB_KIND = "connect.revoke_at_utility"
# Retried with the jobs' backoff (up to an hour apart): about a day of tries.
REVOKE_MAX_ATTEMPTS = 30


class NothingToRevoke(Conflict):
    title = "Nothing to revoke"
    type_slug = "nothing-to-revoke"


def grant_of(authorization: UtilityAuthorization, encryptor: Encryptor) -> Grant:
    """The grant as its connector names it at the utility."""
    access = authorization.access_token_encrypted
    refresh = authorization.refresh_token_encrypted
    tokens = (
        Tokens(
            access_token=encryptor.decrypt(access),
            refresh_token=encryptor.decrypt(refresh) if refresh else None,
            expires_at=authorization.access_token_expires_at,
            scope=authorization.scope_granted,
        )
        if access
        else None
    )
    return Grant(authorization.utility_authorization_ref, tokens)


async def end_grant(
    session: AsyncSession,
    authorization: UtilityAuthorization,
    connect_session: ConnectSession,
    *,
    status: Ending,
    now: datetime | None = None,
) -> bool:
    """Record that a completed grant ended, with its events; False when it was not standing
    (already ended, or never completed), so news heard twice changes nothing."""
    if authorization.status != "COMPLETED":
        return False
    if not await repository.take_standing_grant(session, authorization.id, status=status):
        return False  # another transaction ended it first, and sent its events
    moment = now or utc_now()
    authorization.status = status
    if status == "REVOKED":
        authorization.revoked_at = moment
    elif authorization.expires_at is None or authorization.expires_at > moment:
        authorization.expires_at = moment
    # Nothing may be fetched with an ended grant: its tokens are of no more use, so not kept.
    authorization.access_token_encrypted = None
    authorization.refresh_token_encrypted = None
    authorization.access_token_expires_at = None
    authorization.revocation_error = None
    await events.authorization_updated(session, connect_session, authorization)
    meters = await meters_repository.list_meters_for_authorizations(session, [authorization.id])
    for meter in meters:
        if status == "REVOKED":
            await announce_revoked_meter(session, meter)
        else:
            await emit_meter_event(session, meter, created=False)
    log.info(
        "authorization_ended",
        authorization_id=str(authorization.id),
        status=status,
        meters=len(meters),
    )
    return True


async def end_grant_by_id(
    session: AsyncSession, authorization_id: uuid.UUID, *, status: Ending
) -> bool:
    found = await repository.get_authorization_with_session(session, authorization_id)
    if found is None:
        return False
    return await end_grant(session, found[0], found[1], status=status)


# --- the partner's revocation ----------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """Where a partner's revocation stands: done, or waiting for the utility (`error` says why)."""

    authorization: UtilityAuthorization
    connect_session: ConnectSession
    done: bool
    error: str | None = None


async def authorization_of_organization(
    session: AsyncSession, *, organization_id: uuid.UUID, authorization_id: uuid.UUID
) -> UtilityAuthorization:
    """The organization's authorization, for a page that asks before revoking it."""
    found = await repository.get_authorization_of_organization(
        session, organization_id, authorization_id
    )
    if found is None:
        raise NotFound("There is no authorization with this ID.")
    return found[0]


async def revoke_for_partner(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    authorization_id: uuid.UUID,
    connectors: Mapping[str, Connector],
    encryptor: Encryptor,
) -> Revocation:
    """End a grant at the utility, then here. Asking again is harmless: an ended grant is just
    shown; a revocation the utility has not confirmed yet is tried again at once."""
    found = await repository.get_authorization_of_organization(
        session, organization_id, authorization_id
    )
    if found is None:
        raise NotFound("There is no authorization with this ID.")
    authorization, connect_session = found
    if authorization.status in ENDED_STATUSES:
        return Revocation(authorization, connect_session, done=True)
    if grant_awaits_recording(authorization):
        raise NothingToRevoke("This authorization is still being recorded. Try again in a minute.")
    if authorization.status != "COMPLETED":
        raise NothingToRevoke(
            f"This authorization is {authorization.status}: the customer granted nothing to revoke."
        )
    if authorization.revocation_requested_at is None:
        authorization.revocation_requested_at = utc_now()
    error = await revoke_at_utility(session, authorization, connect_session, connectors, encryptor)
    if error is not None:
        await enqueue(
            session,
            kind=REVOKE_JOB_KIND,
            payload={"authorization_id": str(authorization.id)},
            run_at=utc_now() + timedelta(minutes=1),
            dedupe_key=revoke_dedupe_key(authorization.id),
            max_attempts=REVOKE_MAX_ATTEMPTS,
        )
    return Revocation(authorization, connect_session, done=error is None, error=error)


async def retire_replaced_grants(
    session: AsyncSession,
    *,
    authorization: UtilityAuthorization,
    previous_authorization_ids: set[uuid.UUID],
) -> None:
    """A customer authorized again and their meters moved to the new grant: each earlier grant
    left with no meter is ended, at the utility too unless the utility does that itself (the
    revocation job decides, with the utility's connector). Written when the caller commits.

    A grant recorded late (its job ran after the customer had authorized again) finds its meters
    held by the newer grant, which keeps them: then it is this grant that was replaced.
    """
    holders = []
    for previous_id in previous_authorization_ids - {authorization.id}:
        if await meters_repository.list_meters_for_authorizations(session, [previous_id]):
            holders.append(previous_id)  # it still serves meters: newer, or found apart
            continue
        await _retire(session, previous_id, replaced_by=authorization.id)
    if holders and not await meters_repository.list_meters_for_authorizations(
        session, [authorization.id]
    ):
        await _retire(session, authorization.id, replaced_by=holders[0])


async def _retire(
    session: AsyncSession, authorization_id: uuid.UUID, *, replaced_by: uuid.UUID
) -> None:
    await enqueue(
        session,
        kind=REVOKE_JOB_KIND,
        payload={"authorization_id": str(authorization_id), "replaced_by": str(replaced_by)},
        dedupe_key=revoke_dedupe_key(authorization_id),
        max_attempts=REVOKE_MAX_ATTEMPTS,
    )


def revoke_dedupe_key(authorization_id: uuid.UUID) -> str:
    return f"{REVOKE_JOB_KIND}:{authorization_id}"


async def revoke_at_utility(
    session: AsyncSession,
    authorization: UtilityAuthorization,
    connect_session: ConnectSession,
    connectors: Mapping[str, Connector],
    encryptor: Encryptor,
) -> str | None:
    """Ask the utility to end the grant, and end it here once it has; otherwise the reason, kept
    on the authorization for the partner to see."""
    connector = connectors.get(authorization.utility_id)
    try:
        if connector is None:
            raise ConnectorError(
                "utility_down", "This utility is not configured on this instance.", retryable=True
            )
        await connector.revoke(grant_of(authorization, encryptor))
    except ConnectorError as failure:
        authorization.revocation_error = failure.message[:1000]
        log.warning(
            "revocation_at_utility_failed",
            authorization_id=str(authorization.id),
            code=failure.code,
        )
        return failure.message
    await end_grant(session, authorization, connect_session, status="REVOKED")
    return None


async def retry_revocation(
    session: AsyncSession,
    *,
    authorization_id: uuid.UUID,
    connectors: Mapping[str, Connector],
    encryptor: Encryptor,
    replaced: bool = False,
) -> str | None:
    """The revocation job's try; None when done (or nothing is left to do). A grant `replaced`
    by a re-authorization at a utility that ends the previous one itself is only ended here."""
    found = await repository.get_authorization_with_session(session, authorization_id)
    if found is None or found[0].status != "COMPLETED":
        return None
    authorization, connect_session = found
    connector = connectors.get(authorization.utility_id)
    if replaced and connector is not None and connector.ends_previous_grant:
        await end_grant(session, authorization, connect_session, status="REVOKED")
        return None
    return await revoke_at_utility(session, authorization, connect_session, connectors, encryptor)


# --- what the utility says: lapsed grants, and the daily check ---------------------------------


@dataclass(frozen=True, slots=True)
class CheckReport:
    expired: int = 0
    revoked: int = 0
    checked: int = 0
    failed: int = 0
    # A whole batch was due: more may be, so the job runs again at once.
    more: bool = False


async def check_grants(
    session: AsyncSession,
    *,
    connectors: Mapping[str, Connector],
    encryptor: Encryptor,
    now: datetime | None = None,
    limit: int = BATCH,
) -> CheckReport:
    """Mark grants past their end EXPIRED, then ask the utility about grants not asked about for a
    day: revoked there (by the customer, or by a re-authorization) is REVOKED here."""
    moment = now or utc_now()
    expired = revoked = checked = failed = 0
    lapsed = await repository.lapsed_authorizations(session, now=moment, limit=limit)
    for authorization in lapsed:
        if await end_grant_by_id(session, authorization.id, status="EXPIRED"):
            expired += 1
    due = await repository.authorizations_due_for_check(
        session, checked_before=moment - CHECK_EVERY, limit=limit
    )
    for authorization in due:
        connector = connectors.get(authorization.utility_id)
        if connector is None:
            continue
        try:
            answer = await connector.grant_status(grant_of(authorization, encryptor))
        except ConnectorError as failure:
            failed += 1
            log.warning(
                "authorization_check_failed",
                authorization_id=str(authorization.id),
                code=failure.code,
            )
            authorization.status_checked_at = moment - CHECK_EVERY + CHECK_AGAIN_AFTER_FAILURE
            continue
        checked += 1
        authorization.status_checked_at = moment
        if answer.expires_at is not None:
            authorization.expires_at = answer.expires_at
        ending: Literal["REVOKED", "EXPIRED"] | None = (
            answer.status if answer.status != "ACTIVE" else None
        )
        if ending is not None and await end_grant_by_id(session, authorization.id, status=ending):
            if ending == "REVOKED":
                revoked += 1
            else:
                expired += 1
    return CheckReport(
        expired=expired,
        revoked=revoked,
        checked=checked,
        failed=failed,
        more=limit in (len(lapsed), len(due)),
    )
