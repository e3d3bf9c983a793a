"""A utility's local days from ESPI LocalTimeParameters, checked against the time-zone database.

The last tests ask a custodian built like OpenESPI (it returns an IntervalBlock only when the whole
block lies inside `published-min`/`published-max`, and cuts blocks at local midnights) for the
days around each DST change, in California and in New York: no reading may be lost.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from leap_connect.kit.http import HttpClientFactory
from leap_connect.utilities.connector import Tokens
from leap_connect.utilities.espi import LocalTimeParameters
from leap_connect.utilities.espi_time import (
    dst_rule_moment,
    local_day_window,
    local_midnight,
    utc_offset,
)
from leap_connect.utilities.green_button import GreenButtonConnector, GreenButtonEndpoints
from leap_connect.utilities.registry import UTILITIES_BY_ID

# US rules as ESPI encodes them: second Sunday of March and first Sunday of November, 02:00.
US_START, US_END = "360E2000", "B40E2000"
PACIFIC = LocalTimeParameters("ltp/pacific", -8 * 3600, 3600, US_START, US_END)
EASTERN = LocalTimeParameters("ltp/eastern", -5 * 3600, 3600, US_START, US_END)
ZONES = {"America/Los_Angeles": PACIFIC, "America/New_York": EASTERN}


def test_us_dst_rules_fall_on_the_second_sunday_of_march_and_first_of_november() -> None:
    assert dst_rule_moment(US_START, 2026) == datetime(2026, 3, 8, 2)
    assert dst_rule_moment(US_END, 2026) == datetime(2026, 11, 1, 2)
    assert dst_rule_moment(US_START, 2024) == datetime(2024, 3, 10, 2)
    assert dst_rule_moment(US_END, 2024) == datetime(2024, 11, 3, 2)


@pytest.mark.parametrize(
    ("rule", "moment"),
    [
        ("FFFFFFFF", None),  # rule processing disabled
        ("not hex", None),
        ("", None),
        # Operator 7, last Sunday of October at 03:00 (as in Europe): 25 October 2026.
        (f"{(10 << 28) | (7 << 25) | (7 << 17) | (3 << 12):08X}", datetime(2026, 10, 25, 3)),
        # Operator 0, the 15th of April at 01:30.
        (f"{(4 << 28) | (15 << 20) | (1 << 12) | 1800:08X}", datetime(2026, 4, 15, 1, 30)),
        # Operator 1, the Friday on or after the 20th of May: 22 May 2026.
        (f"{(5 << 28) | (1 << 25) | (20 << 20) | (5 << 17):08X}", datetime(2026, 5, 22)),
    ],
)
def test_dst_rule_operators(rule: str, moment: datetime | None) -> None:
    assert dst_rule_moment(rule, 2026) == moment


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_the_offset_matches_the_time_zone_database_every_hour_of_four_years(zone: str) -> None:
    tz, parameters = ZoneInfo(zone), ZONES[zone]
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    while moment < datetime(2028, 1, 1, tzinfo=UTC):
        assert utc_offset(parameters, moment) == moment.astimezone(tz).utcoffset(), moment
        moment += timedelta(minutes=30)


@pytest.mark.parametrize("zone", sorted(ZONES))
@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1), date(2026, 7, 4)])
def test_local_midnights_are_the_time_zone_databases(zone: str, day: date) -> None:
    tz, parameters = ZoneInfo(zone), ZONES[zone]
    midnight = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    following = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    assert local_midnight(parameters, midnight) == midnight
    assert local_midnight(parameters, midnight + timedelta(hours=20)) == midnight
    assert local_midnight(parameters, midnight + timedelta(hours=1), later=True) == following
    # The DST days are 23 and 25 hours long.
    assert following - midnight == timedelta(hours={3: 23, 11: 25, 7: 24}[day.month])


def test_without_local_time_the_window_is_utc_days_with_a_day_to_spare() -> None:
    start = datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert local_day_window(start, start + timedelta(hours=3), None) == (
        datetime(2026, 3, 7, tzinfo=UTC),
        datetime(2026, 3, 10, tzinfo=UTC),
    )


# --- a custodian that serves whole local-day blocks only ------------------------------------------

BASE = "https://custodian.example/DataCustodian/espi/1_1/resource"
USAGE_POINT = f"{BASE}/Subscription/9/UsagePoint/1"
QUARTER = 900


class WholeBlockCustodian:
    """15-minute readings in one IntervalBlock per local day; a block is returned only when it
    lies wholly inside the window asked for, as OpenESPI's data custodian does."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self.parameters = ZONES[zone]
        self.windows: list[tuple[datetime, datetime]] = []

    def value(self, start: int) -> int:
        return start // QUARTER % 1000

    def __call__(self, request: httpx.Request) -> httpx.Response:
        low = _time(request.url.params["published-min"])
        high = _time(request.url.params["published-max"])
        self.windows.append((low, high))
        blocks = []
        day = low.astimezone(self.zone).date() - timedelta(days=1)
        while (begins := self._midnight(day)) < high:
            ends = self._midnight(day + timedelta(days=1))
            if low <= begins and ends <= high:
                blocks.append(self._block(day, begins, ends))
            day += timedelta(days=1)
        return httpx.Response(200, content=self._feed(blocks).encode())

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)

    def _block(self, day: date, begins: datetime, ends: datetime) -> str:
        first, last = int(begins.timestamp()), int(ends.timestamp())
        readings = "".join(
            f"<IntervalReading><timePeriod><duration>{QUARTER}</duration><start>{start}</start>"
            f"</timePeriod><value>{self.value(start)}</value></IntervalReading>"
            for start in range(first, last, QUARTER)
        )
        href = f"{USAGE_POINT}/MeterReading/1/IntervalBlock/{day:%Y%m%d}"
        return f"""<entry><id>urn:uuid:{day:%Y%m%d}-0000-4000-8000-000000000003</id>
  <link rel="self" href="{href}"/><link rel="up" href="{USAGE_POINT}/MeterReading/1/IntervalBlock"/>
  <content><IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>{last - first}
  </duration><start>{first}</start></interval>{readings}</IntervalBlock></content></entry>"""

    def _feed(self, blocks: list[str]) -> str:
        p = self.parameters
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:uuid:00000000-0000-4000-8000-000000000000</id>
<link rel="self" href="{BASE}/Batch/Subscription/9/UsagePoint/1"/>
<entry><id>urn:uuid:00000000-0000-4000-8000-000000000001</id>
  <link rel="self" href="{USAGE_POINT}"/>
  <link rel="related" href="{BASE}/LocalTimeParameters/1"/>
  <content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind>
  </ServiceCategory></UsagePoint></content></entry>
<entry><id>urn:uuid:00000000-0000-4000-8000-000000000002</id>
  <link rel="self" href="{BASE}/LocalTimeParameters/1"/>
  <content><LocalTimeParameters xmlns="http://naesb.org/espi"><dstEndRule>{p.dst_end_rule}
  </dstEndRule><dstOffset>{p.dst_offset_seconds}</dstOffset><dstStartRule>{p.dst_start_rule}
  </dstStartRule><tzOffset>{p.tz_offset_seconds}</tzOffset></LocalTimeParameters></content>
</entry>
<entry><id>urn:uuid:00000000-0000-4000-8000-000000000004</id>
  <link rel="self" href="{USAGE_POINT}/MeterReading/1"/>
  <link rel="up" href="{USAGE_POINT}/MeterReading"/>
  <link rel="related" href="{BASE}/ReadingType/1"/>
  <content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
<entry><id>urn:uuid:00000000-0000-4000-8000-000000000005</id>
  <link rel="self" href="{BASE}/ReadingType/1"/>
  <content><ReadingType xmlns="http://naesb.org/espi"><flowDirection>1</flowDirection>
  <intervalLength>{QUARTER}</intervalLength><powerOfTenMultiplier>0</powerOfTenMultiplier>
  <uom>72</uom></ReadingType></content></entry>
{"".join(blocks)}
</feed>"""


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def connector_for(custodian: WholeBlockCustodian) -> GreenButtonConnector:
    endpoints = GreenButtonEndpoints(
        authorize_url="https://custodian.example/oauth/authorize",
        token_url="https://custodian.example/oauth/token",
        revoke_url=None,
        client_id="client",
        client_secret="secret",
    )
    http = HttpClientFactory(timeout=5, transport=httpx.MockTransport(custodian))
    return GreenButtonConnector(UTILITIES_BY_ID["pge"], endpoints, http)


TOKENS = Tokens(access_token="token", refresh_token=None, expires_at=None, scope=None)


@pytest.mark.parametrize("zone", sorted(ZONES))
@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1)])
async def test_no_reading_is_lost_at_local_day_edges_around_a_dst_change(
    zone: str, day: date
) -> None:
    custodian = WholeBlockCustodian(zone)
    connector = connector_for(custodian)
    for start in (  # a UTC day, then the local day itself, once the local time is known
        datetime.combine(day, time(), tzinfo=UTC),
        datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC),
    ):
        end = start + timedelta(days=1)

        readings = await connector.fetch_usage(TOKENS, USAGE_POINT, start, end)

        expected = list(range(int(start.timestamp()), int(end.timestamp()), QUARTER))
        assert [int(r.start.timestamp()) for r in readings] == expected
        assert [round(r.value * 1000) for r in readings] == [custodian.value(s) for s in expected]
    # The second window was asked for by local days, from the LocalTimeParameters of the first.
    low, high = custodian.windows[-1]
    assert low.astimezone(ZoneInfo(zone)).time() == time()
    assert high.astimezone(ZoneInfo(zone)).time() == time()


async def test_the_utc_window_alone_would_lose_the_readings_at_its_edges() -> None:
    """Why the margin: the same custodian asked for exactly one UTC day returns no block."""
    custodian = WholeBlockCustodian("America/New_York")
    start = datetime(2026, 3, 8, tzinfo=UTC)
    async with httpx.AsyncClient(transport=httpx.MockTransport(custodian)) as client:
        response = await client.get(
            f"{BASE}/Batch/Subscription/9/UsagePoint/1",
            params={
                "published-min": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "published-max": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    assert b"<IntervalBlock" not in response.content
