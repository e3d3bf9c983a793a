"""A meter's interval readings: fetched through its utility's connector, kept once settled."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.problems import (
    Conflict,
    LeapConnectError,
    ServiceUnavailable,
    ValidationFailed,
)
from leap_connect.meters import repository
from leap_connect.meters.schemas import IntervalOut, MeterIntervalsOut, authorization_status
from leap_connect.meters.search import require_meter
from leap_connect.models import Meter, UtilityAuthorization, utc_now
from leap_connect.models.meter import MeterInterval, MeterIntervalDay
from leap_connect.utilities.connector import Connector, ConnectorError, Interval, Tokens
from leap_connect.utilities.registry import UTILITIES_BY_ID

MAX_WINDOW = timedelta(days=31)
ONE_DAY = timedelta(days=1)
# Refresh a little before expiry, so the token does not lapse on its way to the utility.
REFRESH_MARGIN = timedelta(minutes=1)
# Utilities publish a day's readings within a day or so and may fill gaps later: a complete day
# is kept once a day has passed, a day with gaps only once a month has (it is re-fetched until).
COMPLETE_DAY_SETTLES_AFTER = timedelta(days=1)
PARTIAL_DAY_SETTLES_AFTER = timedelta(days=30)
UTILITY_RETRY_AFTER_SECONDS = 30


class UtilityRefused(LeapConnectError):
    status_code = 502
    title = "Bad gateway"
    type_slug = "utility-refused"


def check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationFailed(
            "end must be after start.", errors=[{"field": "end", "message": "must be after start"}]
        )
    if end - start > MAX_WINDOW:
        raise ValidationFailed(
            "Ask for at most 31 days of readings at a time.",
            errors=[{"field": "end", "message": "at most 31 days after start"}],
        )


@dataclass(frozen=True, slots=True)
class UtilityAccess:
    connectors: Mapping[str, Connector]
    encryptor: Encryptor
    # Refreshed tokens are saved in their own transaction: the utility has already retired the
    # old refresh token, so they must outlive a request that fails after the refresh.
    sessionmaker: async_sessionmaker[AsyncSession]


async def meter_intervals(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    meter_id: uuid.UUID,
    start: datetime,
    end: datetime,
    access: UtilityAccess,
) -> MeterIntervalsOut:
    check_window(start, end)
    meter = await require_meter(session, organization_id, meter_id)
    days = _days(start, end)
    stored = await repository.stored_interval_days(session, meter.id, days[0], days[-1])
    missing = [day for day in days if day not in stored]
    if missing:
        fetch_start = _midnight(missing[0])
        fetch_end = _midnight(missing[-1]) + ONE_DAY
        readings = await _fetch(session, meter, fetch_start, fetch_end, access)
        await _store(session, meter, fetch_start, fetch_end, readings, stored)
    rows = await repository.stored_intervals(session, meter.id, start, end)
    return MeterIntervalsOut(
        meter_id=meter.id,
        start=start,
        end=end,
        intervals=[
            IntervalOut(
                start=row.interval_start, duration_seconds=row.duration_seconds, kwh=row.kwh
            )
            for row in rows
        ],
    )


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def _fetch(
    session: AsyncSession, meter: Meter, start: datetime, end: datetime, access: UtilityAccess
) -> list[Interval]:
    utility = UTILITIES_BY_ID[meter.utility_id]
    connector = access.connectors.get(meter.utility_id)
    if connector is None:
        raise ServiceUnavailable(
            f"Interval readings from {utility.name} are not available on this instance."
        )
    if meter.usage_point_uri is None:
        raise Conflict(f"{utility.name} has not told us where this meter's readings are yet.")
    authorization = await repository.get_authorization(session, meter.utility_authorization_id)
    assert authorization is not None
    status = authorization_status(authorization)
    if status != "ACTIVE" or authorization.access_token_encrypted is None:
        raise Conflict(
            f"{utility.name} no longer shares this meter's data: its authorization is "
            f"{status if status != 'ACTIVE' else 'incomplete'}."
        )
    try:
        tokens = await _current_tokens(authorization, connector, access)
        return await connector.fetch_usage(tokens, meter.usage_point_uri, start, end)
    except ConnectorError as error:
        if error.retryable:
            raise ServiceUnavailable(
                f"{utility.name} is not answering: {error.message} Please try again shortly.",
                headers={"Retry-After": str(UTILITY_RETRY_AFTER_SECONDS)},
            ) from None
        raise UtilityRefused(f"{utility.name} refused: {error.message}") from None


def _tokens(authorization: UtilityAuthorization, encryptor: Encryptor) -> Tokens:
    assert authorization.access_token_encrypted is not None
    refresh = authorization.refresh_token_encrypted
    return Tokens(
        access_token=encryptor.decrypt(authorization.access_token_encrypted),
        refresh_token=encryptor.decrypt(refresh) if refresh else None,
        expires_at=authorization.access_token_expires_at,
        scope=authorization.scope_granted,
    )


def _fresh(authorization: UtilityAuthorization) -> bool:
    expires_at = authorization.access_token_expires_at
    return expires_at is None or expires_at > utc_now() + REFRESH_MARGIN


async def _current_tokens(
    authorization: UtilityAuthorization, connector: Connector, access: UtilityAccess
) -> Tokens:
    """The access token, refreshed first when it is about to expire."""
    if _fresh(authorization):
        return _tokens(authorization, access.encryptor)
    async with access.sessionmaker() as refresh_session, refresh_session.begin():
        locked = await repository.lock_authorization(refresh_session, authorization.id)
        assert locked is not None
        if _fresh(locked):  # another request refreshed it while we waited for the lock
            return _tokens(locked, access.encryptor)
        tokens = await connector.refresh(_tokens(locked, access.encryptor))
        locked.access_token_encrypted = access.encryptor.encrypt(tokens.access_token)
        if tokens.refresh_token:
            locked.refresh_token_encrypted = access.encryptor.encrypt(tokens.refresh_token)
        locked.access_token_expires_at = tokens.expires_at
        if tokens.scope:
            locked.scope_granted = tokens.scope
    return tokens


async def _store(
    session: AsyncSession,
    meter: Meter,
    start: datetime,
    end: datetime,
    readings: Sequence[Interval],
    already_stored: set[date],
) -> None:
    now = utc_now()
    by_start = {reading.start.astimezone(UTC): reading for reading in readings}
    covered: dict[date, int] = {}
    for reading_start, reading in by_start.items():
        day = reading_start.date()
        covered[day] = covered.get(day, 0) + reading.duration_seconds
    days = [start.date() + timedelta(days=n) for n in range((end - start).days)]
    settled = [
        MeterIntervalDay(
            meter_id=meter.id, day=day, reading_count=_count(by_start, day), fetched_at=now
        )
        for day in days
        if day not in already_stored and _settled(day, covered.get(day, 0), now)
    ]
    intervals = [
        MeterInterval(
            meter_id=meter.id,
            interval_start=reading_start,
            duration_seconds=reading.duration_seconds,
            kwh=reading.kwh,
        )
        for reading_start, reading in by_start.items()
        if start <= reading_start < end
    ]
    try:
        async with session.begin_nested():
            await repository.replace_intervals(
                session, meter.id, start=start, end=end, intervals=intervals, days=settled
            )
    except IntegrityError:
        pass  # a concurrent request stored the same days first; we answer from what it stored


def _count(by_start: Mapping[datetime, Interval], day: date) -> int:
    return sum(1 for reading_start in by_start if reading_start.date() == day)


def _settled(day: date, seconds_covered: int, now: datetime) -> bool:
    ended = _midnight(day) + ONE_DAY
    if seconds_covered >= ONE_DAY.total_seconds():
        return ended + COMPLETE_DAY_SETTLES_AFTER <= now
    return ended + PARTIAL_DAY_SETTLES_AFTER <= now
