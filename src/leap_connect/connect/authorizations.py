"""The journey's utility step: send the customer to the utility, take them back, keep the grant.

The callback is three short transactions around the utility's slow answer: the `state` is taken
(single use) before the code is exchanged, and the result is written after.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import events, repository, terms
from leap_connect.connect.service import JourneyRefused
from leap_connect.db import transaction
from leap_connect.kit.crypto import Encryptor, keyed_hash
from leap_connect.meters.discovery import enqueue_meter_discovery
from leap_connect.meters.service import record_meters
from leap_connect.models import ConnectFlow, ConnectSession, Meter, UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    Connector,
    ConnectorError,
)
from leap_connect.utilities.connectors import redirect_uri
from leap_connect.utilities.registry import UTILITIES_BY_ID

STATE_LIFETIME = timedelta(minutes=15)


async def next_step_for_utility(
    session: AsyncSession,
    runtime: Runtime,
    *,
    connect_session: ConnectSession,
    flow: ConnectFlow,
    utility_id: str,
) -> str:
    """Where a customer who chose `utility_id` goes: the terms first when the flow signs them
    first and some are unsigned, otherwise the utility."""
    terms_first = await terms.terms_before_authorization_url(
        session, connect_session, flow, utility_id
    )
    if terms_first:
        return terms_first
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
        AuthorizationStart(state=state, code_verifier=code_verifier, redirect_uri=redirect_uri)
    )


@dataclass(frozen=True)
class ClaimedCallback:
    authorization_id: uuid.UUID
    connect_session_id: uuid.UUID
    start: AuthorizationStart


@dataclass(frozen=True)
class RefusedCallback:
    reason: str
    connect_session_id: uuid.UUID | None = None
    already_completed: bool = False


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
            already_completed=authorization.status == "COMPLETED" and same_browser,
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


async def complete_authorization(
    session: AsyncSession,
    *,
    claimed: ClaimedCallback,
    result: AuthorizationResult,
    encryptor: Encryptor,
) -> list[Meter]:
    found = await repository.get_authorization_with_session(session, claimed.authorization_id)
    assert found is not None
    authorization, connect_session = found
    now = utc_now()
    authorization.status = "COMPLETED"
    authorization.error_code = None
    authorization.error_description = None
    authorization.pkce_verifier_encrypted = None
    authorization.authorized_at = now
    authorization.expires_at = result.expires_at
    authorization.utility_authorization_ref = result.utility_authorization_ref
    authorization.resource_uri = result.resource_uri
    authorization.meters_pending = result.meters_pending
    if result.tokens is not None:
        authorization.access_token_encrypted = encryptor.encrypt(result.tokens.access_token)
        authorization.refresh_token_encrypted = (
            encryptor.encrypt(result.tokens.refresh_token) if result.tokens.refresh_token else None
        )
        authorization.access_token_expires_at = result.tokens.expires_at
        authorization.scope_granted = result.tokens.scope
    connect_session.status = "UPDATED"
    connect_session.last_interaction_at = now
    recorded = await record_meters(
        session,
        connect_session=connect_session,
        authorization=authorization,
        discovered=result.meters,
    )
    if result.meters_pending:
        # In this transaction: the attempt never completes without someone looking for its meters.
        await enqueue_meter_discovery(session, authorization.id)
    return [item.meter for item in recorded]


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


async def finish_callback(
    runtime: Runtime, *, utility_id: str, params: Mapping[str, str], binding: str | None
) -> RefusedCallback | FailedCallback | CompletedCallback:
    """Take the customer back from the utility: check and spend the `state`, exchange the code
    (or resolve the referral) at the utility, and record what came of it."""
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
    async with transaction(runtime.sessionmaker) as session:
        meters = await complete_authorization(
            session, claimed=claimed, result=result, encryptor=runtime.encryptor
        )
    return CompletedCallback(claimed, meters)
