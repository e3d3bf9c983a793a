"""A meter's latest readings as a small chart drawn on the server: energy delivered and received
per UTC day, over the last two weeks of what is stored."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from leap_connect.models.meter import MeterInterval

CHART_DAYS = 14
CHART_WIDTH = 560
CHART_HEIGHT = 120
BAR_GAP = 4


@dataclass(frozen=True)
class DayBars:
    day: date
    delivered: float
    received: float
    x: int
    delivered_height: int
    received_height: int


@dataclass(frozen=True)
class ReadingsChart:
    unit: str
    days: list[DayBars]
    bar_width: int
    height: int = CHART_HEIGHT
    width: int = CHART_WIDTH


def readings_chart(readings: Sequence[MeterInterval], *, last_day: date) -> ReadingsChart | None:
    """Daily totals per direction, each direction from its finest series (a meter read both hourly
    and every 15 minutes would otherwise count twice); None when nothing is stored."""
    if not readings:
        return None
    finest: dict[str, int] = {}
    for reading in readings:
        finest[reading.direction] = min(
            finest.get(reading.direction, reading.interval_seconds), reading.interval_seconds
        )
    totals: dict[tuple[date, str], float] = defaultdict(float)
    for reading in readings:
        if reading.interval_seconds == finest[reading.direction]:
            totals[(reading.interval_start.date(), reading.direction)] += reading.value
    days = [last_day - timedelta(days=CHART_DAYS - 1 - n) for n in range(CHART_DAYS)]
    top = max(totals.values(), default=0.0) or 1.0
    slot = CHART_WIDTH // CHART_DAYS
    bar_width = (slot - BAR_GAP) // 2

    def height(value: float) -> int:
        return round(CHART_HEIGHT * value / top) if value > 0 else 0

    return ReadingsChart(
        unit=readings[0].unit,
        bar_width=bar_width,
        days=[
            DayBars(
                day=day,
                delivered=round(totals[(day, "delivered")], 3),
                received=round(totals[(day, "received")], 3),
                x=index * slot,
                delivered_height=height(totals[(day, "delivered")]),
                received_height=height(totals[(day, "received")]),
            )
            for index, day in enumerate(days)
        ],
    )
