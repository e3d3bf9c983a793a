"""Parameter types the partner API shares: times read as UTC, within a range the database stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """A time with no offset is UTC; any other is converted to UTC."""
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the time is out of range") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("the time must lie between 1970 and 9000")
    return moment


UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
