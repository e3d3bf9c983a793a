"""The journey's utility step: send the customer to the utility, take them back, keep the grant.

The callback is short transactions around the utility's slow answer: the `state` is taken (single
use) before the code is exchanged; once it is, the grant is kept at once (`keep_grant`: the tokens,
encrypted, and a job to record the rest), then recorded (`record_authorization`: the attempt
COMPLETED, its meters, their events). If recording fails, or the process stops, the job records it.
"""

from __future__ import annotations

import asyncio
import calendar
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import events, lifecycle, repository, terms
from leap_connect.connect.service import OPEN_STATUSES, JourneyRefused, grant_awaits_recording
from leap_connect.db import transaction
from leap_connect.jobs.service import cancel, enqueue
from leap_connect.kit.crypto import Encryptor, keyed_hash
from leap_connect.meters.discovery import enqueue_meter_discovery
from leap_connect.meters.service import authorizations_of_meters, record_meters
from leap_connect.models import ConnectFlow, ConnectSession, Meter, UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    Connector,
    ConnectorError,
    DiscoveredMeter,
    Grant,
    ServiceAddress,
)
from leap_connect.utilities.connectors import redirect_uri
from leap_connect.utilities.registry import UTILITIES_BY_ID

log = structlog.get_logger("leap_connect.connect.authorizations")

STATE_LIFETIME = timedelta(minutes=15)
RECORD_JOB_KIND = "connect.record_authorization"
RECORD_GRACE = timedelta(seconds=30)
RECORD_MAX_ATTEMPTS = 30  # retried with backoff up to an hour apart: about a day
# Waits between tries of keeping a grant: the one write that nothing could redo once it is lost.
# About 20 s in all, which outlasts a database restart while the customer's page still loads.
KEEP_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)


async def next_step_for_utility(
    session: AsyncSession,
    runtime: Runtime,
    *,
    connect_session: ConnectSession,
    flow: ConnectFlow,
    utility_id: str,
) -> str:
    """Where a customer who chose `utility_id` goes: the terms first when the flow signs them
    first and some are unsigned, otherwise the utility; with no utility chosen, the session page,
    which offers them."""
    terms_first = await terms.terms_before_authorization_url(
        session, connect_session, flow, utility_id
    )
    if terms_first:
        return terms_first
    if not utility_id:
        return f"/connect/sessions/{connect_session.id}"
    return await begin_authorization(
        session,
        connect_session=connect_session,
        flow=flow,
        utility_id=utility_id,
        connectors=runtime.connectors,
        encryptor=runtime.encryptor,
        secret_key=runtime.secret_key,
        redirect_uri=redirect_uri(runtime.settings, utility_id),
    )


async def begin_authorization(
    session: AsyncSession,
    *,
    connect_session: ConnectSession,
    flow: ConnectFlow,
    utility_id: str,
    connectors: Mapping[str, Connector],
    encryptor: Encryptor,
    secret_key: str,
    redirect_uri: str,
) -> str:
    """Record an INITIATED attempt and return the utility's authorization URL."""
    available = connect_session.requested_utility_ids or flow.utility_ids
    if utility_id not in available:
        raise JourneyRefused(f'"{utility_id}" is not one of the utilities you can connect here.')
    connector = connectors.get(utility_id)
    if connector is None:
        name = UTILITIES_BY_ID[utility_id].name
        raise JourneyRefused(f"{name} cannot be connected right now. Please try again later.")
    state = secrets.token_urlsafe(32)  # 256 random bits
    code_verifier = secrets.token_urlsafe(64)
    now = utc_now()
    authorization = UtilityAuthorization(
        organization_id=connect_session.organization_id,
        connect_session_id=connect_session.id,
        utility_id=utility_id,
        status="INITIATED",
        state_hmac=keyed_hash(secret_key, f"state:{state}"),
        state_expires_at=now + STATE_LIFETIME,
        pkce_verifier_encrypted=encryptor.encrypt(code_verifier),
    )
    session.add(authorization)
    connect_session.last_interaction_at = now
    await events.authorization_updated(session, connect_session, authorization)
    return connector.authorization_url(
        AuthorizationStart(
            state=state,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            wished_end=months_after(now, flow.authorization_months),
        )
    )


def months_after(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later (the month's last day if shorter)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class ClaimedCallback:
    authorization_id: uuid.UUID
    connect_session_id: uuid.UUID
    start: AuthorizationStart


@dataclass(frozen=True)
class RefusedCallback:
    reason: str
    connect_session_id: uuid.UUID | None = None
    # A replay, in the customer's own browser, of a callback whose grant was kept: they are just
    # shown their session (connected, or finishing).
    already_connected: bool = False


async def claim_callback(
    session: AsyncSession,
    *,
    utility_id: str,
    state: str | None,
    binding: str | None,
    secret_key: str,
    encryptor: Encryptor,
    redirect_uri: str,
) -> ClaimedCallback | RefusedCallback:
    """Check the `state` and take it (single use); a refused one fails its attempt."""
    if not state:
        return RefusedCallback("The utility sent you back without the security code we expected.")
    found = await repository.get_authorization_by_state(
        session, keyed_hash(secret_key, f"state:{state}")
    )
    if found is None:
        return RefusedCallback("We do not recognise this authorization.")
    authorization, connect_session = found
    same_browser = binding is not None and secrets.compare_digest(
        connect_session.browser_binding_hmac, binding
    )
    if authorization.state_used_at is not None:
        return RefusedCallback(
            "This authorization was already used.",
            connect_session.id if same_browser else None,
            already_connected=same_browser
            and (authorization.status == "COMPLETED" or grant_awaits_recording(authorization)),
        )
    problem = None
    if authorization.utility_id != utility_id:
        problem = "This authorization was started for another utility."
    elif authorization.state_expires_at < utc_now():
        problem = "This authorization took too long and has expired."
    elif not same_browser:
        problem = "This authorization was started in another browser."
    if not await repository.spend_state(session, authorization.id, now=utc_now()):
        return RefusedCallback(
            "This authorization is already being completed.",
            connect_session.id if same_browser else None,
        )
    if problem:
        await _fail(session, authorization, connect_session, "invalid_state", problem)
        return RefusedCallback(problem, connect_session.id if same_browser else None)
    assert authorization.pkce_verifier_encrypted is not None
    return ClaimedCallback(
        authorization_id=authorization.id,
        connect_session_id=connect_session.id,
        start=AuthorizationStart(
            state=state,
            code_verifier=encryptor.decrypt(authorization.pkce_verifier_encrypted),
            redirect_uri=redirect_uri,
        ),
    )


async def keep_grant(
    session: AsyncSession,
    *,
    claimed: ClaimedCallback,
    result: AuthorizationResult,
    encryptor: Encryptor,
) -> None:
    """The first write once the code is exchanged: the grant (its tokens encrypted) and the job
    that records the rest, so nothing that fails after this commits can lose the grant.

    The attempt stays INITIATED, with `authorized_at` set: kept, not yet recorded. What the
    utility found that has no column yet (its meters) travels in the job's payload.
    """
    found = await repository.get_authorization_with_session(session, claimed.authorization_id)
    assert found is not None
    authorization, _ = found
    now = utc_now()
    authorization.authorized_at = now
    authorization.pkce_verifier_encrypted = None
    authorization.expires_at = result.expires_at
    authorization.utility_authorization_ref = result.utility_authorization_ref
    authorization.resource_uri = result.resource_uri
    if result.tokens is not None:
        authorization.access_token_encrypted = encryptor.encrypt(result.tokens.access_token)
        authorization.refresh_token_encrypted = (
            encryptor.encrypt(result.tokens.refresh_token) if result.tokens.refresh_token else None
        )
        authorization.access_token_expires_at = result.tokens.expires_at
        authorization.scope_granted = result.tokens.scope
    await enqueue(
        session,
        kind=RECORD_JOB_KIND,
        payload=recording_payload(authorization.id, result),
        # The request records it at once; the job is for when it could not.
        run_at=now + RECORD_GRACE,
        dedupe_key=recording_dedupe_key(authorization.id),
        max_attempts=RECORD_MAX_ATTEMPTS,
    )


def recording_dedupe_key(authorization_id: uuid.UUID) -> str:
    return f"{RECORD_JOB_KIND}:{authorization_id}"


def recording_payload(authorization_id: uuid.UUID, result: AuthorizationResult) -> dict[str, Any]:
    """What recording a kept grant needs besides its row; no secret (the tokens are in the row)."""
    return {
        "authorization_id": str(authorization_id),
        "meters_pending": result.meters_pending,
        "meters": [asdict(meter) for meter in result.meters],
    }


def meters_of_payload(payload: Mapping[str, Any]) -> tuple[DiscoveredMeter, ...]:
    return tuple(
        DiscoveredMeter(**{**meter, "address": ServiceAddress(**meter["address"])})
        for meter in payload["meters"]
    )


async def record_authorization(
    session: AsyncSession,
    *,
    authorization_id: uuid.UUID,
    meters: tuple[DiscoveredMeter, ...],
    meters_pending: bool,
) -> list[Meter] | None:
    """Record a kept grant: the attempt COMPLETED, its meters, the session UPDATED, and their
    events. The callback's request and the job may both try: whichever marks the attempt
    COMPLETED first records it, in one transaction, and the other gets None."""
    if not await repository.complete_kept_authorization(session, authorization_id):
        return None
    # Recorded here, so the fall-back job has nothing to do (if a worker runs it already, it
    # finds the attempt COMPLETED).
    await cancel(session, dedupe_key=recording_dedupe_key(authorization_id))
    found = await repository.get_authorization_with_session(session, authorization_id)
    assert found is not None
    authorization, connect_session = found
    authorization.meters_pending = meters_pending
    if connect_session.status in OPEN_STATUSES:  # a finished session stays finished
        connect_session.status = "UPDATED"
    if authorization.authorized_at is not None:  # the moment the customer came back
        connect_session.last_interaction_at = max(
            connect_session.last_interaction_at, authorization.authorized_at
        )
    await events.authorization_updated(session, connect_session, authorization)
    # A meter found again moves to this grant: the grants it leaves are ended (re-authorization).
    previous = await authorizations_of_meters(
        session, connect_session.organization_id, authorization.utility_id, meters
    )
    recorded = await record_meters(
        session,
        connect_session=connect_session,
        authorization=authorization,
        discovered=meters,
    )
    await lifecycle.retire_replaced_grants(
        session, authorization=authorization, previous_authorization_ids=previous
    )
    if meters_pending:
        # In this transaction: the attempt never completes without someone looking for its meters.
        await enqueue_meter_discovery(session, authorization.id)
    await events.session_updated(session, connect_session)
    return [item.meter for item in recorded]


async def record_kept_grant(session: AsyncSession, payload: Mapping[str, Any]) -> bool:
    """The recording job's work; False when the grant was recorded already (or never kept)."""
    recorded = await record_authorization(
        session,
        authorization_id=uuid.UUID(str(payload["authorization_id"])),
        meters=meters_of_payload(payload),
        meters_pending=bool(payload["meters_pending"]),
    )
    return recorded is not None


async def fail_authorization(
    session: AsyncSession, *, claimed: ClaimedCallback, code: str, description: str
) -> None:
    found = await repository.get_authorization_with_session(session, claimed.authorization_id)
    assert found is not None
    authorization, connect_session = found
    await _fail(session, authorization, connect_session, code, description)


async def _fail(
    session: AsyncSession,
    authorization: UtilityAuthorization,
    connect_session: ConnectSession,
    code: str,
    description: str,
) -> None:
    authorization.status = "FAILED"
    authorization.error_code = code
    authorization.error_description = description[:1000]
    authorization.pkce_verifier_encrypted = None
    connect_session.status = "UPDATED"
    connect_session.last_interaction_at = utc_now()
    await events.authorization_updated(session, connect_session, authorization)
    await events.session_updated(session, connect_session)


@dataclass(frozen=True)
class FailedCallback:
    """The utility refused or failed; the attempt is recorded as FAILED with this reason."""

    claimed: ClaimedCallback
    failure: ConnectorError


@dataclass(frozen=True)
class CompletedCallback:
    claimed: ClaimedCallback
    meters: list[Meter]


@dataclass(frozen=True)
class KeptCallback:
    """The grant is kept but could not be recorded now: the recording job will."""

    claimed: ClaimedCallback


async def finish_callback(
    runtime: Runtime, *, utility_id: str, params: Mapping[str, str], binding: str | None
) -> RefusedCallback | FailedCallback | CompletedCallback | KeptCallback:
    """Take the customer back from the utility: check and spend the `state`, exchange the code
    (or resolve the referral) at the utility, keep the grant, and record what came of it."""
    async with transaction(runtime.sessionmaker) as session:
        claimed = await claim_callback(
            session,
            utility_id=utility_id,
            state=params.get("state"),
            binding=binding,
            secret_key=runtime.secret_key,
            encryptor=runtime.encryptor,
            redirect_uri=redirect_uri(runtime.settings, utility_id),
        )
    if isinstance(claimed, RefusedCallback):
        return claimed
    connector = runtime.connectors.get(utility_id)
    try:
        if connector is None:
            raise ConnectorError("utility_down", "This utility is not configured.")
        result = await connector.complete(claimed.start, params)
    except ConnectorError as failure:
        async with transaction(runtime.sessionmaker) as session:
            await fail_authorization(
                session, claimed=claimed, code=failure.code, description=failure.message
            )
        return FailedCallback(claimed, failure)
    await _keep(runtime, connector, claimed, result)
    try:
        async with transaction(runtime.sessionmaker) as session:
            meters = await record_authorization(
                session,
                authorization_id=claimed.authorization_id,
                meters=result.meters,
                meters_pending=result.meters_pending,
            )
    except Exception:
        # Rolled back, and nothing is lost: the grant is kept and its job records it.
        log.exception("authorization_recording_deferred", utility_id=utility_id)
        return KeptCallback(claimed)
    return CompletedCallback(claimed, meters or [])


async def _keep(
    runtime: Runtime, connector: Connector, claimed: ClaimedCallback, result: AuthorizationResult
) -> None:
    """Keep the grant, trying again over a database outage: the code is spent, so a grant not
    kept now cannot be kept later. One that cannot be kept is given back to the utility rather
    than left there without its tokens; the customer is asked to try again."""
    for delay in (*KEEP_RETRY_DELAYS, None):
        try:
            async with transaction(runtime.sessionmaker) as session:
                await keep_grant(
                    session, claimed=claimed, result=result, encryptor=runtime.encryptor
                )
            return
        except Exception:
            if delay is None:
                log.exception(
                    "authorization_grant_not_kept", authorization_id=str(claimed.authorization_id)
                )
                await _give_back(connector, claimed, result)
                raise
            log.warning(
                "authorization_grant_not_kept_yet",
                authorization_id=str(claimed.authorization_id),
                exc_info=True,
            )
            await asyncio.sleep(delay)


async def _give_back(
    connector: Connector, claimed: ClaimedCallback, result: AuthorizationResult
) -> None:
    """Revoke at the utility a grant we could not keep, so none is left without its tokens."""
    try:
        await connector.revoke(Grant(result.utility_authorization_ref, result.tokens))
    except Exception:
        log.exception(
            "authorization_grant_orphaned", authorization_id=str(claimed.authorization_id)
        )
        return
    log.warning("authorization_grant_given_back", authorization_id=str(claimed.authorization_id))
