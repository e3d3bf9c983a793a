"""A usage point's readings as series: direction of flow, interval length and unit, never merged.

The mixed document below is written by hand and its numbers checked by hand: a net-metered meter
read every 15 minutes in both directions and hourly in kWh, with a demand channel and a net
channel, and readings the schema allows to come without a time period or a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from leap_connect.utilities.espi import (
    EspiParseError,
    Series,
    SeriesReading,
    parse_feed,
    usage_point_series,
)
from tests.support.reference_data import green_button_file
from tests.unit.utilities.espi_documents import BATCH, GAS_FEED, METER

BASE = "https://custodian.example/DataCustodian/espi/1_1/resource"
UP = f"{BASE}/Subscription/5/UsagePoint/41"
T0 = 1_717_200_000  # 2024-06-01T00:00:00Z


def _reading_type(
    rt_id: str, *, flow: int, length: int, uom: int, multiplier: int, accumulation: int = 4
) -> str:
    return f"""
  <entry>
    <id>urn:uuid:00000000-0000-4000-8000-0000000000{rt_id}</id>
    <link rel="self" href="{BASE}/ReadingType/{rt_id}" type="espi-entry/ReadingType"/>
    <title>type {rt_id}</title>
    <content><ReadingType xmlns="http://naesb.org/espi">
      <accumulationBehaviour>{accumulation}</accumulationBehaviour>
      <commodity>1</commodity>
      <flowDirection>{flow}</flowDirection>
      <intervalLength>{length}</intervalLength>
      <kind>12</kind>
      <powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>
      <uom>{uom}</uom>
    </ReadingType></content>
  </entry>"""


def _meter_reading(mr_id: str, rt_id: str, readings: str) -> str:
    href = f"{UP}/MeterReading/{mr_id}"
    return f"""
  <entry>
    <id>urn:uuid:00000000-0000-4000-8000-0000000001{rt_id}</id>
    <link rel="self" href="{href}" type="espi-entry/MeterReading"/>
    <link rel="up" href="{UP}/MeterReading" type="espi-feed/MeterReading"/>
    <link rel="related" href="{BASE}/ReadingType/{rt_id}" type="espi-entry/ReadingType"/>
    <title>reading {mr_id}</title>
    <content><MeterReading xmlns="http://naesb.org/espi"/></content>
  </entry>
  <entry>
    <id>urn:uuid:00000000-0000-4000-8000-0000000002{rt_id}</id>
    <link rel="self" href="{href}/IntervalBlock/1" type="espi-entry/IntervalBlock"/>
    <link rel="up" href="{href}/IntervalBlock" type="espi-feed/IntervalBlock"/>
    <title>block</title>
    <content><IntervalBlock xmlns="http://naesb.org/espi">
      <interval><duration>3600</duration><start>{T0}</start></interval>
      {readings}
    </IntervalBlock></content>
  </entry>"""


def _r(start: int, duration: int, value: int) -> str:
    return (
        f"<IntervalReading><timePeriod><duration>{duration}</duration><start>{start}</start>"
        f"</timePeriod><value>{value}</value></IntervalReading>"
    )


MIXED = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:uuid:00000000-0000-4000-8000-000000000000</id>
  <title>Net-metered home</title>
  <link rel="self" href="{BASE}/Batch/Subscription/5" type="espi-feed/Subscription"/>
  <entry>
    <id>urn:uuid:00000000-0000-4000-8000-000000000041</id>
    <link rel="self" href="{UP}" type="espi-entry/UsagePoint"/>
    <link rel="related" href="{UP}/MeterReading" type="espi-feed/MeterReading"/>
    <title>Home</title>
    <content><UsagePoint xmlns="http://naesb.org/espi">
      <ServiceCategory><kind>0</kind></ServiceCategory>
    </UsagePoint></content>
  </entry>
  {_reading_type("11", flow=1, length=900, uom=72, multiplier=0)}
  {_reading_type("12", flow=19, length=900, uom=72, multiplier=-3)}
  {_reading_type("13", flow=1, length=3600, uom=72, multiplier=3)}
  {_reading_type("14", flow=1, length=900, uom=38, multiplier=0)}
  {_reading_type("15", flow=4, length=900, uom=72, multiplier=0)}
  {_reading_type("16", flow=1, length=900, uom=72, multiplier=0, accumulation=9)}
  {_reading_type("17", flow=20, length=900, uom=72, multiplier=0)}
  {
    _meter_reading(
        "delivered-15",
        "11",
        _r(T0, 900, 250)
        + _r(T0 + 900, 900, 0)
        + "<IntervalReading><value>99</value></IntervalReading>"
        + _r(T0 + 1800, 900, 125)
        + f"<IntervalReading><timePeriod><duration>900</duration><start>{T0 + 2700}</start>"
        "</timePeriod></IntervalReading>",
    )
}
  {
    _meter_reading(
        "received-15",
        "12",
        _r(T0, 900, 0) + _r(T0 + 900, 900, 410_500) + _r(T0 + 1800, 900, 75_250),
    )
}
  {_meter_reading("delivered-60", "13", _r(T0, 3600, 2))}
  {_meter_reading("demand-15", "14", _r(T0, 900, 1800))}
  {_meter_reading("net-15", "15", _r(T0, 900, 250) + _r(T0 + 900, 900, -410))}
  {_meter_reading("register", "16", _r(T0, 900, 123_456_789))}
  {_meter_reading("total-15", "17", _r(T0, 900, 250))}
</feed>
""".encode()

JUNE_1 = datetime(2024, 6, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return JUNE_1.replace(minute=minutes % 60, hour=minutes // 60)


def test_a_net_metered_meter_has_its_directions_and_lengths_as_separate_series() -> None:
    [usage_point] = parse_feed(MIXED).usage_points

    assert usage_point_series(usage_point) == (
        Series(
            "delivered",
            900,
            "kWh",
            (
                SeriesReading(_at(0), 900, Decimal("0.250")),  # 250 Wh
                SeriesReading(_at(15), 900, Decimal("0")),
                SeriesReading(_at(30), 900, Decimal("0.125")),
            ),
        ),
        # 2 × 10**3 Wh = 2 kWh
        Series("delivered", 3600, "kWh", (SeriesReading(_at(0), 3600, Decimal("2")),)),
        Series(
            "net",
            900,
            "kWh",
            (
                SeriesReading(_at(0), 900, Decimal("0.250")),
                SeriesReading(_at(15), 900, Decimal("-0.410")),
            ),
        ),
        Series(
            "received",
            900,
            "kWh",
            (
                SeriesReading(_at(0), 900, Decimal("0")),
                SeriesReading(_at(15), 900, Decimal("0.4105")),  # 410 500 × 10**-3 Wh
                SeriesReading(_at(30), 900, Decimal("0.07525")),
            ),
        ),
    )


def test_readings_without_a_time_period_or_a_value_are_skipped_not_fatal() -> None:
    [usage_point] = parse_feed(MIXED).usage_points
    delivered = next(
        mr for mr in usage_point.meter_readings if mr.meter_reading_id == "delivered-15"
    )
    # Five IntervalReadings were sent; the one without timePeriod and the one without value
    # say nothing that can be kept.
    assert [reading.value for reading in delivered.interval_readings] == [250, 0, 125]


def test_demand_register_totals_and_other_flow_directions_are_no_interval_energy() -> None:
    [usage_point] = parse_feed(MIXED).usage_points
    kept = {(s.direction, s.interval_seconds) for s in usage_point_series(usage_point)}
    assert kept == {("delivered", 900), ("delivered", 3600), ("received", 900), ("net", 900)}
    assert len(usage_point.meter_readings) == 7


def test_gas_is_kept_in_therms_as_reported_never_in_kwh() -> None:
    [usage_point] = parse_feed(GAS_FEED).usage_points
    [series] = usage_point_series(usage_point)
    assert (series.direction, series.interval_seconds, series.unit) == ("delivered", 3600, "therm")
    assert [reading.amount for reading in series.readings] == [
        Decimal("0.12"),
        Decimal("0"),
        Decimal("0.07"),
    ]


def test_two_meter_readings_of_one_series_that_disagree_are_refused() -> None:
    twice = MIXED.replace(
        b"</feed>",
        _meter_reading("delivered-15-again", "11", _r(T0, 900, 251)).encode() + b"</feed>",
    )
    [usage_point] = parse_feed(twice).usage_points
    with pytest.raises(EspiParseError, match="two MeterReadings of the delivered 900-second"):
        usage_point_series(usage_point)


def test_two_meter_readings_of_one_series_that_agree_are_joined() -> None:
    again = MIXED.replace(
        b"</feed>",
        _meter_reading(
            "delivered-15-late", "11", _r(T0 + 1800, 900, 125) + _r(T0 + 2700, 900, 5)
        ).encode()
        + b"</feed>",
    )
    [usage_point] = parse_feed(again).usage_points
    delivered = usage_point_series(usage_point)[0]
    assert [reading.amount for reading in delivered.readings] == [
        Decimal("0.250"),
        Decimal("0"),
        Decimal("0.125"),
        Decimal("0.005"),
    ]


def test_the_eddie_sample_is_energy_received_from_the_customer() -> None:
    """UtilityAPI's Green Button feed, as eddie tests against it: a flowDirection 19 reading."""
    feed = parse_feed(green_button_file("eddie-Batch.xml").read_bytes())
    [usage_point] = feed.usage_points

    [series] = usage_point_series(usage_point)

    assert (series.direction, series.interval_seconds, series.unit) == ("received", 900, "kWh")
    assert len(series.readings) == 67
    assert series.readings[0] == SeriesReading(
        datetime(2024, 9, 3, 0, 0, tzinfo=UTC), 900, Decimal("0.01")
    )
    assert max(reading.amount for reading in series.readings) == Decimal("36.22")


def test_the_service_agreement_of_a_usage_point_is_read() -> None:
    [usage_point] = parse_feed(BATCH).usage_points
    assert usage_point.customer_agreement == METER.service_agreement_id
