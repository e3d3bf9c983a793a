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
from leap_connect.meters.grant_endings import report_grant_ended_now
from leap_connect.meters.schemas import IntervalOut, MeterIntervalsOut, authorization_status
from leap_connect.meters.search import require_meter
from leap_connect.meters.service import enqueue_collection
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
COLLECTING_RETRY_AFTER_SECONDS = 300
KWH = "kWh"


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
    interval_seconds: int | None = None,
) -> MeterIntervalsOut:
    check_window(start, end)
    meter = await require_meter(session, organization_id, meter_id)
    await _check_data_status(meter, access)
    days = _days(start, end)
    stored = await repository.stored_interval_days(session, meter.id, days[0], days[-1])
    missing = [day for day in days if day not in stored]
    if missing:
        fetch_start = _midnight(missing[0])
        fetch_end = _midnight(missing[-1]) + ONE_DAY
        readings = await _fetch(session, meter, fetch_start, fetch_end, access)
        await _store(session, meter, fetch_start, fetch_end, readings, stored)
    rows = [
        row
        for row in await repository.stored_intervals(session, meter.id, start, end)
        if row.unit == KWH
    ]
    chosen = _chosen_series(rows, interval_seconds, start, end)
    return MeterIntervalsOut(
        meter_id=meter.id,
        start=start,
        end=end,
        interval_seconds=chosen,
        intervals=_intervals_out([row for row in rows if row.interval_seconds == chosen]),
    )


async def _check_data_status(meter: Meter, access: UtilityAccess) -> None:
    """A meter whose history the utility is still collecting has no readings to give yet: say
    so, rather than answer (and keep) empty days."""
    if meter.data_status == "READY":
        return
    utility = UTILITIES_BY_ID[meter.utility_id]
    if meter.data_status == "FAILED":
        raise Conflict(
            f"{utility.name} could not collect this meter's readings. The customer may need to "
            "authorize again."
        )
    if meter.collection_requested_at is None:
        # Recorded before collection was asked for (or its job was lost): ask now, in a
        # transaction of its own, since this request ends in a 409.
        async with access.sessionmaker() as queue_session, queue_session.begin():
            await enqueue_collection(queue_session, meter.utility_authorization_id)
    raise Conflict(
        f"{utility.name} is still collecting this meter's history; its readings can be read "
        "once its data_status is READY (a meter.data_ready webhook event says when).",
        headers={"Retry-After": str(COLLECTING_RETRY_AFTER_SECONDS)},
    )


def _chosen_series(
    rows: Sequence[MeterInterval], asked: int | None, start: datetime, end: datetime
) -> int | None:
    """The interval length asked for, or else the finest the window has readings of."""
    available = sorted({row.interval_seconds for row in rows})
    if asked is None or not available or asked in available:
        return asked if asked is not None else (available[0] if available else None)
    lengths = ", ".join(str(length) for length in available)
    raise ValidationFailed(
        f"This meter has no {asked}-second readings from {start.isoformat()} to "
        f"{end.isoformat()}; it has readings of {lengths} seconds there.",
        errors=[{"field": "interval_seconds", "message": f"one of {lengths}"}],
    )


def _intervals_out(rows: Sequence[MeterInterval]) -> list[IntervalOut]:
    """One interval per start, its directions side by side, and the net consumption."""
    by_start: dict[datetime, dict[str, MeterInterval]] = {}
    for row in rows:
        by_start.setdefault(row.interval_start, {})[row.direction] = row
    out = []
    for interval_start in sorted(by_start):
        directions = by_start[interval_start]
        delivered, received, net = (
            directions[name].value if name in directions else None
            for name in ("delivered", "received", "net")
        )
        out.append(
            IntervalOut(
                start=interval_start,
                duration_seconds=next(iter(directions.values())).duration_seconds,
                kwh=net_consumption(delivered, received, net),
                kwh_delivered=delivered,
                kwh_received=received,
            )
        )
    return out


def net_consumption(delivered: float | None, received: float | None, net: float | None) -> float:
    """Delivered less received when both are known, else what the utility told: its net, or the
    one direction it reported (received energy counting against consumption)."""
    if delivered is not None and received is not None:
        return delivered - received
    if net is not None:
        return net
    if delivered is not None:
        return delivered
    return -(received or 0.0)


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
        try:
            return await connector.fetch_usage(tokens, meter.usage_point_uri, start, end)
        except ConnectorError as refused:
            if refused.code != "access_refused":
                raise
        # Refused with a token we held valid: refreshed, it is asked once more; a refusal then,
        # or a refused refresh, means the customer's grant is gone (revoked at the utility).
        try:
            tokens = await _current_tokens(authorization, connector, access, force_refresh=True)
        except ConnectorError as refresh_failed:
            if refresh_failed.retryable:
                raise
            raise ConnectorError("access_refused", refresh_failed.message) from None
        return await connector.fetch_usage(tokens, meter.usage_point_uri, start, end)
    except ConnectorError as error:
        if error.code == "access_refused":
            await report_grant_ended_now(access.sessionmaker, authorization.id, "REVOKED")
            raise Conflict(
                f"{utility.name} no longer shares this meter's data: its authorization was "
                "revoked at the utility."
            ) from None
        if error.retryable:
            # Down, or preparing the data (202): either way the answer is "later", not "no".
            wait = error.retry_after or UTILITY_RETRY_AFTER_SECONDS
            raise ServiceUnavailable(
                f"{utility.name} cannot give these readings yet: {error.message} Please try "
                f"again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
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
    authorization: UtilityAuthorization,
    connector: Connector,
    access: UtilityAccess,
    *,
    force_refresh: bool = False,
) -> Tokens:
    """The access token, refreshed first when it is about to expire (or `force_refresh`)."""
    if not force_refresh and _fresh(authorization):
        return _tokens(authorization, access.encryptor)
    async with access.sessionmaker() as refresh_session, refresh_session.begin():
        locked = await repository.lock_authorization(refresh_session, authorization.id)
        assert locked is not None
        # Another request refreshed it while we waited for the lock.
        if not force_refresh and _fresh(locked):
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
    if not readings:
        # The utility has published nothing for the window (yet, or any longer): keep what is
        # stored, and remember no day as empty, so the days are asked for again.
        return
    now = utc_now()
    by_key = {
        (reading.direction, reading.series_seconds, reading.start.astimezone(UTC)): reading
        for reading in readings
    }
    covered: dict[tuple[str, int, date], int] = {}
    for (direction, length, reading_start), reading in by_key.items():
        key = (direction, length, reading_start.date())
        covered[key] = covered.get(key, 0) + reading.duration_seconds
    day_covered: dict[date, int] = {}
    for (_, _, day), seconds in covered.items():
        day_covered[day] = max(day_covered.get(day, 0), seconds)
    published_until = max(
        reading.start.astimezone(UTC) + timedelta(seconds=reading.duration_seconds)
        for reading in readings
    )
    days = [start.date() + timedelta(days=n) for n in range((end - start).days)]
    settled = [
        MeterIntervalDay(
            meter_id=meter.id,
            day=day,
            reading_count=sum(1 for key in by_key if key[2].date() == day),
            fetched_at=now,
        )
        for day in days
        if day not in already_stored
        and _settled(day, day_covered.get(day, 0), published_until, now)
    ]
    intervals = [
        MeterInterval(
            meter_id=meter.id,
            direction=direction,
            interval_seconds=length,
            interval_start=reading_start,
            duration_seconds=reading.duration_seconds,
            value=reading.value,
            unit=reading.unit,
        )
        for (direction, length, reading_start), reading in by_key.items()
        if start <= reading_start < end
    ]
    try:
        async with session.begin_nested():
            await repository.replace_intervals(
                session, meter.id, start=start, end=end, intervals=intervals, days=settled
            )
    except IntegrityError:
        pass  # a concurrent request stored the same days first; we answer from what it stored


def _settled(day: date, seconds_covered: int, published_until: datetime, now: datetime) -> bool:
    """Whether a day's readings will not change: the utility has published past it, and it is
    whole and a day old, or has gaps (or nothing) and is a month old."""
    ended = _midnight(day) + ONE_DAY
    if published_until < ended:
        return False
    if seconds_covered >= ONE_DAY.total_seconds():
        return ended + COMPLETE_DAY_SETTLES_AFTER <= now
    return ended + PARTIAL_DAY_SETTLES_AFTER <= now
