"""A utility's clock from ESPI LocalTimeParameters: its offset, its DST rules and its local days.

Pure. Data custodians cut IntervalBlocks at the utility's local midnights (OpenESPI returns a
block only when all of it lies inside `published-min`/`published-max`), so a window of readings
is asked for by local day, with a day's margin on each side.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from leap_connect.utilities.espi import LocalTimeParameters

ONE_DAY = timedelta(days=1)
_RULE_DISABLED = 0xFFFFFFFF


def dst_rule_moment(rule: str | None, year: int) -> datetime | None:
    """When a DstRuleType rule falls in `year`, as a naive local time; None for no rule.

    The rule is 32 bits, written in hex: bits 0-11 seconds, 12-16 hours, 17-19 day of the week
    (1 Monday … 7 Sunday), 20-24 day of the month, 25-27 operator, 28-31 month. Operator 0 is the
    day of the month itself, 1 the weekday on or after it, 2-6 its first to fifth occurrence in
    the month, 7 its last.
    """
    if not rule:
        return None
    try:
        value = int(rule.strip(), 16)
    except ValueError:
        return None
    if value == _RULE_DISABLED or not 0 <= value <= _RULE_DISABLED:
        return None
    seconds, hours = value & 0xFFF, (value >> 12) & 0x1F
    weekday, day_of_month = (value >> 17) & 0x7, (value >> 20) & 0x1F
    operator, month = (value >> 25) & 0x7, (value >> 28) & 0xF
    if not 1 <= month <= 12 or hours > 23 or seconds > 3599:
        return None
    day = _rule_day(year, month, operator, weekday, day_of_month)
    if day is None:
        return None
    return datetime(day.year, day.month, day.day) + timedelta(hours=hours, seconds=seconds)


def _rule_day(year: int, month: int, operator: int, weekday: int, day_of_month: int) -> date | None:
    days_in_month = ((date(year + month // 12, month % 12 + 1, 1)) - date(year, month, 1)).days
    if operator == 0:
        return date(year, month, day_of_month) if 1 <= day_of_month <= days_in_month else None
    if not 1 <= weekday <= 7:
        return None
    if operator == 1:
        if not 1 <= day_of_month <= days_in_month:
            return None
        first = date(year, month, day_of_month)
        return first + timedelta(days=(weekday - 1 - first.weekday()) % 7)
    first = date(year, month, 1)
    first_match = first + timedelta(days=(weekday - 1 - first.weekday()) % 7)
    if operator == 7:
        last = first_match + timedelta(weeks=(days_in_month - first_match.day) // 7)
        return last
    found = first_match + timedelta(weeks=operator - 2)
    return found if found.month == month else None


def utc_offset(parameters: LocalTimeParameters | None, moment: datetime) -> timedelta:
    """The utility's offset from UTC at `moment`: tzOffset, plus dstOffset while DST is on.

    DST starts at the start rule's time on the standard clock and ends at the end rule's time on
    the daylight clock, as in the US rules the rules encode (02:00 local both ways).
    """
    if parameters is None:
        return timedelta(0)
    standard = timedelta(seconds=parameters.tz_offset_seconds)
    dst = timedelta(seconds=parameters.dst_offset_seconds or 0)
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    year = (utc + standard).year
    starts = dst_rule_moment(parameters.dst_start_rule, year)
    ends = dst_rule_moment(parameters.dst_end_rule, year)
    if not dst or starts is None or ends is None:
        return standard
    return standard + dst if starts - standard <= utc < ends - standard - dst else standard


def local_midnight(
    parameters: LocalTimeParameters | None, moment: datetime, *, later: bool = False
) -> datetime:
    """The utility's local midnight at or before `moment` (at or after it when `later`), in UTC."""
    utc = moment.astimezone(UTC)
    local = utc + utc_offset(parameters, utc)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if later and midnight != local:
        midnight += ONE_DAY
    # The offset at midnight itself: DST changes at night, so the offset of `moment` may differ.
    result = midnight - utc_offset(parameters, midnight)
    return midnight - utc_offset(parameters, result)


def local_day_window(
    start: datetime, end: datetime, parameters: LocalTimeParameters | None
) -> tuple[datetime, datetime]:
    """The window of whole local days that holds `[start, end)` with a day to spare each side.

    Without LocalTimeParameters the days are UTC days: the spare day still covers any offset.
    """
    return (
        local_midnight(parameters, start - ONE_DAY),
        local_midnight(parameters, end + ONE_DAY, later=True),
    )
