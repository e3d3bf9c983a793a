"""The ESPI parser against real Green Button files, their broken variants, hostile XML and noise."""

from __future__ import annotations

import copy
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leap_connect.utilities.espi import (
    Address,
    EspiFeed,
    EspiParseError,
    parse_feed,
)

GREENBUTTON = Path(
    os.environ.get("LEAP_CONNECT_GREENBUTTON_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "greenbutton"
)

A = "{http://www.w3.org/2005/Atom}"
N = "{http://naesb.org/espi}"

UTILITYAPI = "https://utilityapi.com/DataCustodian/espi/1_1/resource"
UP_HREF = f"{UTILITYAPI}/Subscription/467189/UsagePoint/1669851"
MR_HREF = f"{UP_HREF}/MeterReading/1669851-1725408000-1725321600_kwh_19"
IB_HREF = f"{MR_HREF}/IntervalBlock/000001"
RT_HREF = f"{UTILITYAPI}/ReadingType/467189_1669851_1669851-1725408000-1725321600_kwh_19"


def sample(name: str) -> bytes:
    return (GREENBUTTON / name).read_bytes()


def parse_sample(name: str) -> EspiFeed:
    return parse_feed(sample(name))


def edited_batch(edit: Callable[[ET.Element], None]) -> bytes:
    root = ET.fromstring(sample("eddie-Batch.xml"))
    edit(root)
    return ET.tostring(root)


def entry_titled(root: ET.Element, title: str) -> ET.Element:
    return next(e for e in root.iter(f"{A}entry") if e.findtext(f"{A}title") == title)


def interval_readings(root: ET.Element) -> list[ET.Element]:
    return entry_titled(root, "IntervalBlock").findall(f".//{N}IntervalReading")


# Good files


def test_batch_subscription_yields_one_meter_with_67_quarter_hour_readings() -> None:
    feed = parse_sample("eddie-Batch.xml")

    assert feed.self_link == f"{UTILITYAPI}/Batch/Subscription/467189"
    [usage_point] = feed.usage_points
    assert usage_point.self_link == UP_HREF
    assert usage_point.usage_point_id == "1669851"
    assert usage_point.mrid == "urn:uuid:7fcd83f8-9bf1-5ae7-871a-b71593a57004"
    assert usage_point.title == "UsagePoint"
    assert usage_point.service_kind == 0
    assert usage_point.status is None
    assert usage_point.tariff_profile == "RES-2-TIER"
    assert usage_point.local_time_parameters == feed.local_time_parameters[0]
    assert usage_point.local_time_parameters.tz_offset_seconds == -18000
    assert usage_point.local_time_parameters.dst_offset_seconds == 3600
    assert usage_point.local_time_parameters.dst_start_rule == "360E2000"
    assert usage_point.local_time_parameters.dst_end_rule == "B40E2000"

    [meter_reading] = usage_point.meter_readings
    assert meter_reading.self_link == MR_HREF
    assert meter_reading.meter_reading_id == "1669851-1725408000-1725321600_kwh_19"
    reading_type = meter_reading.reading_type
    assert reading_type.self_link == RT_HREF
    assert (reading_type.uom, reading_type.power_of_ten_multiplier) == (72, -3)
    assert reading_type.interval_length == 900
    assert reading_type.accumulation_behaviour == 4
    assert reading_type.commodity == 1
    assert reading_type.flow_direction == 19
    assert reading_type.currency == 840

    readings = meter_reading.interval_readings
    assert len(readings) == 67
    first = readings[0]
    assert first.start == datetime(2024, 9, 3, 0, 0, tzinfo=UTC)
    assert first.duration_seconds == 900
    assert first.end == datetime(2024, 9, 3, 0, 15, tzinfo=UTC)
    assert first.value == 10000
    assert first.scaled_value == Decimal("10")  # Wh: 10000 × 10**-3
    assert first.kwh == Decimal("0.01")
    assert readings[-1].start == datetime(2024, 9, 3, 23, 45, tzinfo=UTC)
    assert max(r.kwh or 0 for r in readings) == Decimal("36.22")
    # The block covers one day but skips 00:30 to 08:00 UTC.
    assert readings[2].start == datetime(2024, 9, 3, 7, 45, tzinfo=UTC)


def test_openespi_usage_data_yields_1340_readings_from_14_daily_blocks() -> None:
    feed = parse_sample("openespi-test_usage_data.xml")

    [usage_point] = feed.usage_points
    assert usage_point.usage_point_id == "5446AF3F"
    assert usage_point.title == "Front Electric Meter"
    assert usage_point.local_time_parameters is not None
    assert (
        usage_point.local_time_parameters.self_link == "/espi/1_1/resource/LocalTimeParameters/01"
    )
    [meter_reading] = usage_point.meter_readings
    assert meter_reading.title == "Fifteen Minute Electricity Consumption"
    assert meter_reading.reading_type.self_link == "/espi/1_1/resource/ReadingType/07"
    assert meter_reading.reading_type.power_of_ten_multiplier == 0

    readings = meter_reading.interval_readings
    # 13 days of 96 quarter hours and the 23-hour day when DST began (11 March 2012).
    assert len(readings) == 13 * 96 + 92 == 1340
    assert readings[0].start == datetime(2012, 3, 1, 5, 0, tzinfo=UTC)
    assert (readings[0].value, readings[0].kwh) == (282, Decimal("0.282"))
    assert readings[-1].start == datetime(2012, 3, 15, 3, 45, tzinfo=UTC)
    assert readings[-1].value == 940
    assert all(a.end == b.start for a, b in pairwise(readings))


def test_openespi_subscription_feed_reads_the_reading_type_nested_in_the_meter_reading() -> None:
    feed = parse_sample("openespi-Usage-Subscription-Feed-Anonymized.xml")

    [usage_point] = feed.usage_points
    assert usage_point.usage_point_id == "test-usage-point-id"
    assert usage_point.status == 1
    assert usage_point.local_time_parameters is not None
    assert usage_point.local_time_parameters.tz_offset_seconds == -18000
    [meter_reading] = usage_point.meter_readings
    assert meter_reading.reading_type.self_link is None
    assert meter_reading.reading_type.interval_length == 3600
    assert meter_reading.reading_type.uom == 72
    assert meter_reading.interval_readings == ()


def test_usage_point_feed_yields_the_meter_without_readings() -> None:
    feed = parse_sample("eddie-UsagePoint.xml")

    [usage_point] = feed.usage_points
    assert usage_point.usage_point_id == "1669851"
    assert usage_point.service_kind == 0
    assert usage_point.meter_readings == ()
    # It links LocalTimeParameters that this document does not carry.
    assert usage_point.local_time_parameters is None


def test_content_without_a_type_is_read_as_xml_like_openespi_and_eddie_do() -> None:
    assert parse_sample("eddie-UsagePointWithoutType.xml") == parse_sample("eddie-UsagePoint.xml")


def test_meter_reading_without_interval_blocks_is_data_not_ready_not_an_error() -> None:
    feed = parse_sample("eddie-BatchWithoutIntervalBlock.xml")

    [meter_reading] = feed.usage_points[0].meter_readings
    assert meter_reading.reading_type.self_link == RT_HREF
    assert meter_reading.interval_readings == ()


def test_a_single_atom_entry_parses() -> None:
    document = sample("eddie-UsagePoint.xml")
    entry = document[document.index(b"<entry") : document.index(b"</entry>") + len(b"</entry>")]

    feed = parse_feed(entry)

    assert feed.self_link is None
    assert [up.self_link for up in feed.usage_points] == [UP_HREF]


def test_retail_customer_feed_yields_customer_account_and_three_service_locations() -> None:
    feed = parse_sample("eddie-accounting_point_data.xml")

    assert feed.usage_points == ()
    [customer] = feed.customers
    assert customer.name == "HEATHER HOMEOWNER"
    assert customer.address == Address("111 ANYWHERE ST", None, "ANYTOWN", "NY", "12345", None)
    [account] = feed.customer_accounts
    assert account.account_id == "111111111-1"
    assert len(feed.service_locations) == 3
    assert {location.address for location in feed.service_locations} == {customer.address}
    assert [location.usage_point_links for location in feed.service_locations] == [
        (f"{UTILITYAPI}/Subscription/521009/UsagePoint/{usage_point_id}",)
        for usage_point_id in ("1902731", "1902730", "1902729")
    ]
    assert [location.usage_point_ids for location in feed.service_locations] == [
        ("1902731",),
        ("1902730",),
        ("1902729",),
    ]
    assert [location.meter_serial_numbers for location in feed.service_locations] == [
        ("1130000000",),
        ("1120000000",),
        ("1110000000",),
    ]
    # Here LocalTimeParameters come in the customer namespace.
    assert len(feed.local_time_parameters) == 3
    assert {ltp.tz_offset_seconds for ltp in feed.local_time_parameters} == {-18000}


def test_openespi_customer_feed_yields_an_address_but_no_name() -> None:
    feed = parse_sample("openespi-Customer-Subscription-Feed-Anonymized.xml")

    [customer] = feed.customers
    assert customer.name is None
    assert customer.address == Address(
        "123 Test Street", None, "Test City", "Test State", "12345-6789", "US"
    )
    assert feed.customer_accounts == ()
    assert feed.service_locations == ()


@pytest.mark.parametrize(
    "name",
    [
        "openespi-Authorization-Entry-Anonymized.xml",
        "openespi-Multiple-Authorization-Feed-Anonymized.xml",
    ],
)
def test_authorization_documents_parse_to_an_empty_tree(name: str) -> None:
    feed = parse_sample(name)

    assert feed.usage_points == ()
    assert feed.customers == ()
    assert feed.local_time_parameters == ()


def test_readings_are_sorted_by_start_whatever_order_they_arrive_in() -> None:
    def reverse_readings(root: ET.Element) -> None:
        block = entry_titled(root, "IntervalBlock").find(f".//{N}IntervalBlock")
        assert block is not None
        readings = block.findall(f"{N}IntervalReading")
        for reading in readings:
            block.remove(reading)
        block.extend(reversed(readings))

    assert parse_feed(edited_batch(reverse_readings)) == parse_sample("eddie-Batch.xml")


def test_overlapping_blocks_that_repeat_readings_count_them_once() -> None:
    def repeat_block(root: ET.Element) -> None:
        block = copy.deepcopy(entry_titled(root, "IntervalBlock"))
        self_link = next(link for link in block.iter(f"{A}link") if link.get("rel") == "self")
        self_link.set("href", IB_HREF.replace("000001", "000002"))
        root.append(block)

    assert parse_feed(edited_batch(repeat_block)) == parse_sample("eddie-Batch.xml")


# Broken files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "eddie-BatchWithInvalidIntervalBlock.xml",
            f"IntervalBlock entry {IB_HREF}: content has no ESPI resource, only the text 'INVALID'",
        ),
        (
            "eddie-BatchWithInvalidSelfLink.xml",
            f"IntervalBlock entry {IB_HREF.replace('/MeterReading/', '/INVALID/')}: "
            f"the self link is not under its up link {MR_HREF}/IntervalBlock",
        ),
        (
            "eddie-BatchWithWrongContentForIntervalBlock.xml",
            f"IntervalBlock entry {IB_HREF}: content is ReadingType, but the self link says "
            "IntervalBlock",
        ),
        (
            "eddie-BatchWithoutContentForIntervalBlock.xml",
            f"IntervalBlock entry {IB_HREF} has no content",
        ),
        (
            "eddie-BatchWithoutSelfLink.xml",
            "entry 5 (urn:uuid:bb0549c0-3e25-5200-9e60-39855b524539, title 'IntervalBlock') "
            "has no self link",
        ),
        (
            "eddie-UsagePointWithInvalidPayload.xml",
            "not XML: not well-formed (invalid token): line 1, column 0",
        ),
        (
            "eddie-UsagePointWithJsonContentType.xml",
            f"UsagePoint entry {UP_HREF}: content is atom+json, not ESPI XML",
        ),
    ],
)
def test_broken_file_is_refused_with_a_message_naming_the_problem(name: str, message: str) -> None:
    with pytest.raises(EspiParseError) as raised:
        parse_sample(name)

    assert str(raised.value) == message


def _drop_reading_start(root: ET.Element) -> None:
    period = interval_readings(root)[2].find(f"{N}timePeriod")
    assert period is not None
    period.remove(period.findall("*")[1])


def _set_reading_value(root: ET.Element) -> None:
    value = interval_readings(root)[1].find(f"{N}value")
    assert value is not None
    value.text = "ten"


def _drop_reading_type_link(root: ET.Element) -> None:
    meter_reading = entry_titled(root, "MeterReading")
    for link in meter_reading.findall(f"{A}link"):
        if "/ReadingType/" in (link.get("href") or ""):
            meter_reading.remove(link)


def _drop_usage_point(root: ET.Element) -> None:
    root.remove(entry_titled(root, "UsagePoint"))


def _move_fifth_reading_to_the_first_start(root: ET.Element) -> None:
    start = interval_readings(root)[4].find(f"{N}timePeriod/{N}start")
    assert start is not None
    start.text = "1725321600"


def _set_multiplier(root: ET.Element) -> None:
    multiplier = entry_titled(root, "ReadingType").find(f".//{N}powerOfTenMultiplier")
    assert multiplier is not None
    multiplier.text = "99"


def _repeat_usage_point(root: ET.Element) -> None:
    root.append(copy.deepcopy(entry_titled(root, "UsagePoint")))


def _foreign_content(root: ET.Element) -> None:
    content = entry_titled(root, "UsagePoint").find(f"{A}content")
    assert content is not None
    content.clear()
    content.append(ET.Element("{urn:example}UsagePoint"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _drop_reading_start,
            f"IntervalBlock entry {IB_HREF}: IntervalReading 3 has no timePeriod/start",
        ),
        (
            _set_reading_value,
            f"IntervalBlock entry {IB_HREF}: IntervalReading 2: value is 'ten', not an integer",
        ),
        (
            _drop_reading_type_link,
            f"MeterReading entry {MR_HREF} has no ReadingType: none of its related links is a "
            "ReadingType entry in this document",
        ),
        (
            _drop_usage_point,
            f"MeterReading entry {MR_HREF}: its up link {UP_HREF}/MeterReading is not under any "
            "UsagePoint in this document",
        ),
        (
            _move_fifth_reading_to_the_first_start,
            f"MeterReading entry {MR_HREF}: IntervalBlock entry {IB_HREF} IntervalReading 1 and "
            f"IntervalBlock entry {IB_HREF} IntervalReading 5 both start at "
            "2024-09-03T00:00:00+00:00 with different readings",
        ),
        (
            _set_multiplier,
            f"ReadingType entry {RT_HREF}: powerOfTenMultiplier 99 is outside ESPI's range "
            "(-12 to 12)",
        ),
        (
            _repeat_usage_point,
            f"UsagePoint entry {UP_HREF}: an earlier UsagePoint entry has the same self link",
        ),
        (
            _foreign_content,
            f"UsagePoint entry {UP_HREF}: content is UsagePoint in namespace urn:example, not ESPI",
        ),
    ],
)
def test_damaged_batch_is_refused_with_a_message_naming_what_and_where(
    edit: Callable[[ET.Element], None], message: str
) -> None:
    with pytest.raises(EspiParseError) as raised:
        parse_feed(edited_batch(edit))

    assert str(raised.value) == message


def test_a_document_that_is_not_atom_is_refused() -> None:
    with pytest.raises(EspiParseError) as raised:
        parse_feed(b"<html><body/></html>")

    assert str(raised.value) == "root element is html (no namespace), not an Atom feed or entry"


# Hostile XML

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feed [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol9;</title></feed>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&secret;</title></feed>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE feed SYSTEM "http://attacker.invalid/espi.dtd">
<feed xmlns="http://www.w3.org/2005/Atom"/>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_entity_bombs_and_external_entities_are_refused_before_expansion(document: bytes) -> None:
    began = time.monotonic()
    with pytest.raises(EspiParseError) as raised:
        parse_feed(document)

    assert str(raised.value).startswith("refused: the document declares a DTD (feed)")
    assert time.monotonic() - began < 1


# Properties: no input makes it raise anything but EspiParseError

SEEDS = (
    "eddie-Batch.xml",
    "eddie-UsagePoint.xml",
    "eddie-accounting_point_data.xml",
    "openespi-Usage-Subscription-Feed-Anonymized.xml",
    "openespi-Customer-Subscription-Feed-Anonymized.xml",
)

TEXTS = st.one_of(
    st.integers().map(str),
    st.sampled_from(["", " ", "-3", "72", "1e3", "0x10", "INVALID", "١٢", "99999999999999999999"]),
    st.text(max_size=20),
)


def parses_or_refuses(data: bytes) -> None:
    try:
        feed = parse_feed(data)
    except EspiParseError as error:
        assert str(error)
        return
    for usage_point in feed.usage_points:
        for meter_reading in usage_point.meter_readings:
            starts = [reading.start for reading in meter_reading.interval_readings]
            assert starts == sorted(starts)
            assert all(start.tzinfo is UTC for start in starts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_only_ever_raise_espi_parse_error(data: bytes) -> None:
    parses_or_refuses(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_byte_mutations_of_real_files_only_ever_raise_espi_parse_error(
    name: str, data: st.DataObject
) -> None:
    document = bytearray(sample(name))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(document)))
        length = data.draw(st.integers(0, 40))
        operation = data.draw(st.sampled_from(["delete", "insert", "overwrite", "repeat"]))
        if operation == "delete":
            del document[at : at + length]
        elif operation == "insert":
            document[at:at] = data.draw(st.binary(max_size=length))
        elif operation == "overwrite":
            document[at : at + length] = data.draw(st.binary(min_size=length, max_size=length))
        else:
            document[at:at] = document[at : at + length]
    parses_or_refuses(bytes(document))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_element_mutations_of_real_files_only_ever_raise_espi_parse_error(
    name: str, data: st.DataObject
) -> None:
    # Mutating the tree rather than the bytes keeps the XML well formed, so the parser's
    # ESPI checks run instead of stopping at "not XML".
    root = ET.fromstring(sample(name))
    for _ in range(data.draw(st.integers(1, 3))):
        elements = list(root.iter())
        parents = {child: parent for parent in elements for child in parent}
        element = data.draw(st.sampled_from(elements))
        operation = data.draw(st.sampled_from(["delete", "text", "repeat", "attribute", "rename"]))
        parent = parents.get(element)
        if operation == "delete" and parent is not None:
            parent.remove(element)
        elif operation == "text":
            element.text = data.draw(TEXTS)
        elif operation == "repeat" and parent is not None:
            parent.insert(list(parent).index(element), copy.deepcopy(element))
        elif operation == "attribute":
            key = data.draw(st.sampled_from(["href", "rel", "type", "src"]))
            element.set(key, data.draw(TEXTS))
        elif operation == "rename":
            tag = data.draw(
                st.sampled_from(["IntervalBlock", "ReadingType", "UsagePoint", "MeterReading"])
            )
            element.tag = f"{N}{tag}"
    parses_or_refuses(ET.tostring(root))
