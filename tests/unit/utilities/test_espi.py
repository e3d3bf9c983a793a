"""The ESPI parser against Green Button documents, their broken variants, hostile XML and noise.

Its own documents come from tests/unit/utilities/espi_documents.py; the last section checks it
against real utilities' files, which are reference data and run only when configured.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leap_connect.utilities.espi import (
    Address,
    EspiFeed,
    EspiParseError,
    parse_feed,
)
from tests.support.reference_data import green_button_file
from tests.unit.utilities.espi_documents import (
    AUTHORIZATION_ENTRY,
    AUTHORIZATION_FEED,
    BASE,
    BATCH,
    BATCH_HREF,
    COMMERCIAL_CUSTOMER,
    CUSTOMER_SELF_HREF,
    GAS_FEED,
    GAS_LTP_HREF,
    GAS_MR_HREF,
    GAS_UP_HREF,
    IB_HREF,
    LTP_HREF,
    MR_HREF,
    NAMELESS_CUSTOMER_FEED,
    ORIGIN,
    RETAIL_CUSTOMER_FEED,
    RT_HREF,
    UP_HREF,
    USAGE_POINT_ENTRY,
    USAGE_POINT_FEED,
    A,
    N,
    customer_with_street_address,
    edited,
    entry_holding,
    fortnight_feed,
    interval_readings,
    link_of,
    retail_customer_feed,
)

Edit = Callable[[ET.Element], None]


def atom_id(href: str) -> str:
    """The Atom id the sandbox's writer gives the resource at `href`."""
    return uuid.uuid5(uuid.NAMESPACE_URL, href).urn


def content_of(root: ET.Element, kind: str) -> ET.Element:
    content = entry_holding(root, kind).find(f"{A}content")
    assert content is not None
    return content


def resource_of(root: ET.Element, kind: str) -> ET.Element:
    return next(iter(content_of(root, kind)))


def refusal(document: bytes) -> str:
    with pytest.raises(EspiParseError) as raised:
        parse_feed(document)
    return str(raised.value)


# Good documents


def test_subscription_yields_one_meter_with_its_quarter_hour_readings_scaled_to_kwh() -> None:
    feed = parse_feed(BATCH)

    assert feed.self_link == BATCH_HREF
    [usage_point] = feed.usage_points
    assert usage_point.self_link == UP_HREF
    assert usage_point.usage_point_id == "7100001"
    assert usage_point.mrid == atom_id(UP_HREF)
    assert usage_point.title == "Home electric service"
    assert usage_point.service_kind == 0
    assert usage_point.status == 1
    assert usage_point.tariff_profile == "E-TOU-C"
    assert usage_point.local_time_parameters == feed.local_time_parameters[0]
    assert usage_point.local_time_parameters.self_link == LTP_HREF
    assert usage_point.local_time_parameters.tz_offset_seconds == -28800
    assert usage_point.local_time_parameters.dst_offset_seconds == 3600
    assert usage_point.local_time_parameters.dst_start_rule == "360E2000"
    assert usage_point.local_time_parameters.dst_end_rule == "B40E2000"

    [meter_reading] = usage_point.meter_readings
    assert meter_reading.self_link == MR_HREF
    assert meter_reading.meter_reading_id == "7100001-kwh"
    assert meter_reading.mrid == atom_id(MR_HREF)
    assert meter_reading.title == "Electricity consumption"
    reading_type = meter_reading.reading_type
    assert reading_type.self_link == RT_HREF
    assert (reading_type.uom, reading_type.power_of_ten_multiplier) == (72, -3)
    assert reading_type.interval_length == 900
    assert reading_type.accumulation_behaviour == 4
    assert reading_type.commodity == 1
    assert reading_type.flow_direction == 1
    assert reading_type.currency == 840
    assert reading_type.kind == 12

    readings = meter_reading.interval_readings
    assert len(readings) == 6
    first = readings[0]
    assert first.start == datetime(2024, 10, 8, 0, 0, tzinfo=UTC)
    assert first.duration_seconds == 900
    assert first.end == datetime(2024, 10, 8, 0, 15, tzinfo=UTC)
    assert first.value == 10000
    assert first.scaled_value == Decimal("10")  # Wh: 10000 × 10**-3
    assert first.kwh == Decimal("0.01")
    assert readings[-1].start == datetime(2024, 10, 8, 23, 45, tzinfo=UTC)
    assert readings[3].scaled_value == Decimal("36220")
    assert max(r.kwh or 0 for r in readings) == Decimal("36.22")
    # The block covers one day but skips 00:30 to 07:45 UTC.
    assert readings[2].start == datetime(2024, 10, 8, 7, 45, tzinfo=UTC)


def test_daily_blocks_across_the_start_of_dst_give_1340_contiguous_readings_in_order() -> None:
    feed = parse_feed(fortnight_feed())

    [usage_point] = feed.usage_points
    assert usage_point.title == "Shop electric service"
    [meter_reading] = usage_point.meter_readings
    assert meter_reading.reading_type.power_of_ten_multiplier == 0
    readings = meter_reading.interval_readings
    # 13 local days of 96 quarter hours and the 23-hour day when DST began (10 March 2024).
    assert len(readings) == 13 * 96 + 92 == 1340
    assert readings[0].start == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert (readings[0].value, readings[0].kwh) == (100, Decimal("0.1"))
    assert readings[-1].start == datetime(2024, 3, 15, 6, 45, tzinfo=UTC)
    assert readings[-1].value == 1439
    assert [reading.value for reading in readings] == list(range(100, 1440))
    assert all(a.end == b.start for a, b in pairwise(readings))


def test_reading_type_nested_in_the_meter_reading_is_read() -> None:
    feed = parse_feed(GAS_FEED)

    [usage_point] = feed.usage_points
    assert usage_point.self_link == GAS_UP_HREF
    assert usage_point.usage_point_id == "GM-12"
    assert usage_point.service_kind == 1
    assert usage_point.status == 1
    assert usage_point.tariff_profile is None
    assert usage_point.local_time_parameters is not None
    assert usage_point.local_time_parameters.self_link == GAS_LTP_HREF
    assert usage_point.local_time_parameters.tz_offset_seconds == -18000
    [meter_reading] = usage_point.meter_readings
    assert meter_reading.self_link == GAS_MR_HREF
    assert meter_reading.reading_type.self_link is None
    assert meter_reading.reading_type.interval_length == 3600
    assert meter_reading.reading_type.uom == 169
    assert meter_reading.reading_type.commodity == 7
    assert meter_reading.reading_type.currency is None
    assert [reading.start for reading in meter_reading.interval_readings] == [
        datetime(2024, 1, 15, hour, tzinfo=UTC) for hour in (5, 6, 7)
    ]


def test_readings_in_a_unit_other_than_wh_are_scaled_but_have_no_kwh() -> None:
    [usage_point] = parse_feed(GAS_FEED).usage_points
    readings = usage_point.meter_readings[0].interval_readings

    assert [reading.value for reading in readings] == [12, 0, 7]
    assert [reading.scaled_value for reading in readings] == [
        Decimal("0.12"),
        Decimal("0"),
        Decimal("0.07"),
    ]  # therms: value × 10**-2
    assert [reading.kwh for reading in readings] == [None, None, None]


def test_usage_point_feed_yields_the_meter_without_readings() -> None:
    feed = parse_feed(USAGE_POINT_FEED)

    [usage_point] = feed.usage_points
    assert usage_point.usage_point_id == "7100001"
    assert usage_point.service_kind == 0
    assert usage_point.meter_readings == ()
    # It links LocalTimeParameters that this document does not carry.
    assert usage_point.local_time_parameters is None
    assert feed.local_time_parameters == ()


@pytest.mark.parametrize(
    "content_type",
    ["xml", "text/xml", "application/xml", "atom+xml", "application/atom+xml; charset=utf-8"],
)
def test_content_reads_the_same_with_an_xml_type_as_without_one(content_type: str) -> None:
    def set_type(root: ET.Element) -> None:
        for content in root.iter(f"{A}content"):
            content.set("type", content_type)

    assert parse_feed(edited(BATCH, set_type)) == parse_feed(BATCH)


def test_meter_reading_without_interval_blocks_is_data_not_ready_not_an_error() -> None:
    def drop_blocks(root: ET.Element) -> None:
        for entry in root.findall(f"{A}entry"):
            if entry.find(f"{A}content/{N}IntervalBlock") is not None:
                root.remove(entry)

    feed = parse_feed(edited(BATCH, drop_blocks))

    [meter_reading] = feed.usage_points[0].meter_readings
    assert meter_reading.reading_type.self_link == RT_HREF
    assert meter_reading.interval_readings == ()


def test_a_single_atom_entry_parses() -> None:
    feed = parse_feed(USAGE_POINT_ENTRY)

    assert feed.self_link is None
    assert [up.self_link for up in feed.usage_points] == [UP_HREF]


@pytest.mark.parametrize(
    ("rename", "tariff_profile"),
    [("serviceDeliveryPoint", "E-TOU-C"), ("ServiceDeliveryPoint", "E-TOU-C"), ("other", None)],
)
def test_usage_point_reads_the_tariff_under_either_spelling_of_service_delivery_point(
    rename: str, tariff_profile: str | None
) -> None:
    # The schema spells it serviceDeliveryPoint; UtilityAPI capitalises it.
    def respell(root: ET.Element) -> None:
        delivery_point = resource_of(root, "UsagePoint").find(f"{N}serviceDeliveryPoint")
        assert delivery_point is not None
        delivery_point.tag = f"{N}{rename}"

    [usage_point] = parse_feed(edited(USAGE_POINT_FEED, respell)).usage_points

    assert usage_point.tariff_profile == tariff_profile


def test_usage_point_without_a_status_has_none() -> None:
    def drop_status(root: ET.Element) -> None:
        resource = resource_of(root, "UsagePoint")
        status = resource.find(f"{N}status")
        assert status is not None
        resource.remove(status)

    [usage_point] = parse_feed(edited(USAGE_POINT_FEED, drop_status)).usage_points

    assert usage_point.status is None
    assert usage_point.service_kind == 0


def test_relative_links_without_up_links_or_types_find_their_parents_by_path() -> None:
    def relative_links_only(root: ET.Element) -> None:
        for entry in root.iter(f"{A}entry"):
            for link in entry.findall(f"{A}link"):
                if link.get("rel") == "up":
                    entry.remove(link)
        for link in root.iter(f"{A}link"):
            link.set("href", (link.get("href") or "").removeprefix(f"{ORIGIN}/DataCustodian"))
            link.attrib.pop("type", None)

    feed = parse_feed(edited(BATCH, relative_links_only))

    assert feed.self_link == "/espi/1_1/resource/Batch/Subscription/5150"
    [usage_point] = feed.usage_points
    assert usage_point.self_link == "/espi/1_1/resource/Subscription/5150/UsagePoint/7100001"
    assert usage_point.local_time_parameters is not None
    assert (
        usage_point.local_time_parameters.self_link
        == "/espi/1_1/resource/LocalTimeParameters/pacific"
    )
    [meter_reading] = usage_point.meter_readings
    assert meter_reading.reading_type.self_link == "/espi/1_1/resource/ReadingType/7100001-wh"
    [original] = parse_feed(BATCH).usage_points[0].meter_readings
    assert meter_reading.interval_readings == original.interval_readings


def test_retail_customer_feed_yields_customer_account_and_three_service_locations() -> None:
    feed = parse_feed(RETAIL_CUSTOMER_FEED)

    assert feed.usage_points == ()
    home = Address("1200 Example Ave", None, "Springfield", "CA", "94110", "US")
    shop = Address("88 Harbor Dr", None, "Oakland", "CA", "94607", "US")
    [customer] = feed.customers
    assert customer.name == "Robin Example"
    assert customer.address == home
    [account] = feed.customer_accounts
    assert account.account_id == "5550001111-2"
    assert [location.address for location in feed.service_locations] == [home, home, shop]
    assert [location.usage_point_links for location in feed.service_locations] == [
        (f"{BASE}/Subscription/5150/UsagePoint/{usage_point_id}",)
        for usage_point_id in ("7100001", "7100003", "7100004")
    ]
    assert [location.usage_point_ids for location in feed.service_locations] == [
        ("7100001",),
        ("7100003",),
        ("7100004",),
    ]
    assert [location.meter_serial_numbers for location in feed.service_locations] == [
        ("M7100001",),
        ("M7100003",),
        ("M7100004",),
    ]
    # Here LocalTimeParameters come in the customer namespace.
    [local_time_parameters] = feed.local_time_parameters
    assert local_time_parameters.self_link == LTP_HREF
    assert local_time_parameters.tz_offset_seconds == -28800


def test_customer_without_a_customer_name_is_named_by_its_organisation() -> None:
    def drop_customer_name(root: ET.Element) -> None:
        customer = resource_of(root, "Customer")
        name = customer.find("{http://naesb.org/espi/customer}customerName")
        assert name is not None
        customer.remove(name)

    document = retail_customer_feed(COMMERCIAL_CUSTOMER)

    [customer] = parse_feed(edited(document, drop_customer_name)).customers
    assert customer.name == "Harbor Bakery Co."
    assert parse_feed(document).customers[0].name == "Harbor Bakery Co."


def test_customer_without_a_name_yields_its_address() -> None:
    feed = parse_feed(NAMELESS_CUSTOMER_FEED)

    [customer] = feed.customers
    assert customer.self_link == CUSTOMER_SELF_HREF
    assert customer.name is None
    assert customer.address == Address("9 Quarry Rd", None, "Burlington", "VT", "05401-1234", "US")
    assert feed.customer_accounts == ()
    assert feed.service_locations == ()


@pytest.mark.parametrize(
    ("street_address", "address"),
    [
        (
            "<cust:streetDetail><cust:number>42</cust:number><cust:prefix>N</cust:prefix>"
            "<cust:name>Elm</cust:name><cust:type>St</cust:type>"
            "<cust:suiteNumber>4B</cust:suiteNumber></cust:streetDetail>",
            Address("42 N Elm St", "4B", None, None, None, None),
        ),
        (
            "<cust:streetDetail><cust:number>42</cust:number><cust:name>Elm</cust:name>"
            "<cust:addressGeneral>42 North Elm Street</cust:addressGeneral>"
            "<cust:addressGeneral2>Floor 3</cust:addressGeneral2>"
            "<cust:suiteNumber>4B</cust:suiteNumber></cust:streetDetail>",
            Address("42 North Elm Street", "Floor 3", None, None, None, None),
        ),
        (
            "<cust:townDetail><cust:name> Burlington </cust:name></cust:townDetail>"
            "<cust:postalCode>05401</cust:postalCode>",
            Address(None, None, "Burlington", None, "05401", None),
        ),
        (
            "<cust:streetDetail><cust:addressGeneral> </cust:addressGeneral></cust:streetDetail>"
            "<cust:townDetail/><cust:postalCode/>",
            None,
        ),
    ],
    ids=["street-parts", "free-form-lines-win", "town-only", "blank"],
)
def test_address_is_read_from_free_form_lines_or_street_parts(
    street_address: str, address: Address | None
) -> None:
    [customer] = parse_feed(customer_with_street_address(street_address)).customers

    assert customer.address == address


@pytest.mark.parametrize(
    "document", [AUTHORIZATION_ENTRY, AUTHORIZATION_FEED], ids=["entry", "feed"]
)
def test_authorization_documents_parse_to_an_empty_tree(document: bytes) -> None:
    feed = parse_feed(document)

    assert feed.usage_points == ()
    assert feed.customers == ()
    assert feed.local_time_parameters == ()


# Edits shared by the tests on our documents and on real utilities' files.


def _reverse_readings(root: ET.Element) -> None:
    block = resource_of(root, "IntervalBlock")
    readings = block.findall(f"{N}IntervalReading")
    for reading in readings:
        block.remove(reading)
    block.extend(reversed(readings))


def _repeat_interval_block(root: ET.Element) -> None:
    block = copy.deepcopy(entry_holding(root, "IntervalBlock"))
    self_link = link_of(block, "self")
    self_link.set("href", f"{self_link.get('href')}-repeated")
    root.append(block)


def test_readings_are_sorted_by_start_whatever_order_they_arrive_in() -> None:
    assert parse_feed(edited(BATCH, _reverse_readings)) == parse_feed(BATCH)


def test_overlapping_blocks_that_repeat_readings_count_them_once() -> None:
    assert parse_feed(edited(BATCH, _repeat_interval_block)) == parse_feed(BATCH)


# Broken documents


def _interval_block_content_is_text(root: ET.Element) -> None:
    content = content_of(root, "IntervalBlock")
    content.clear()
    content.text = "INVALID"


def _interval_block_content_is_a_link(root: ET.Element) -> None:
    content = content_of(root, "IntervalBlock")
    content.clear()
    content.set("src", f"{IB_HREF}.xml")


def _interval_block_content_holds_two_resources(root: ET.Element) -> None:
    content = content_of(root, "IntervalBlock")
    content.append(copy.deepcopy(content[0]))


def _interval_block_self_link_outside_its_meter_reading(root: ET.Element) -> None:
    link_of(entry_holding(root, "IntervalBlock"), "self").set(
        "href", IB_HREF.replace("/MeterReading/", "/INVALID/")
    )


def _interval_block_holds_a_reading_type(root: ET.Element) -> None:
    reading_type = copy.deepcopy(resource_of(root, "ReadingType"))
    content = content_of(root, "IntervalBlock")
    content.clear()
    content.append(reading_type)


def _interval_block_without_content(root: ET.Element) -> None:
    entry = entry_holding(root, "IntervalBlock")
    entry.remove(content_of(root, "IntervalBlock"))


def _interval_block_without_self_link(root: ET.Element) -> None:
    entry = entry_holding(root, "IntervalBlock")
    entry.remove(link_of(entry, "self"))


def _interval_block_without_id(root: ET.Element) -> None:
    entry = entry_holding(root, "IntervalBlock")
    atom_id_element = entry.find(f"{A}id")
    assert atom_id_element is not None
    entry.remove(atom_id_element)


def _usage_point_content_type(content_type: str) -> Edit:
    def edit(root: ET.Element) -> None:
        content_of(root, "UsagePoint").set("type", content_type)

    return edit


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            edited(BATCH, _interval_block_content_is_text),
            f"IntervalBlock entry {IB_HREF}: content has no ESPI resource, only the text 'INVALID'",
        ),
        (
            edited(BATCH, _interval_block_content_is_a_link),
            f"IntervalBlock entry {IB_HREF}: content has no ESPI resource, a link to {IB_HREF}.xml",
        ),
        (
            edited(BATCH, _interval_block_content_holds_two_resources),
            f"IntervalBlock entry {IB_HREF}: content holds 2 elements (IntervalBlock in namespace "
            "http://naesb.org/espi, IntervalBlock in namespace http://naesb.org/espi), not one",
        ),
        (
            edited(BATCH, _interval_block_self_link_outside_its_meter_reading),
            f"IntervalBlock entry {IB_HREF.replace('/MeterReading/', '/INVALID/')}: "
            f"the self link is not under its up link {MR_HREF}/IntervalBlock",
        ),
        (
            edited(BATCH, _interval_block_holds_a_reading_type),
            f"IntervalBlock entry {IB_HREF}: content is ReadingType, but the self link says "
            "IntervalBlock",
        ),
        (
            edited(BATCH, _interval_block_without_content),
            f"IntervalBlock entry {IB_HREF} has no content",
        ),
        (
            edited(BATCH, _interval_block_without_self_link),
            f"entry 4 ({atom_id(IB_HREF)}, title 'Interval readings') has no self link",
        ),
        (
            edited(BATCH, _interval_block_without_id),
            f"IntervalBlock entry {IB_HREF} has no id",
        ),
        (
            json.dumps({"usagePoint": {"id": "7100001", "serviceKind": 0}}).encode(),
            "not XML: not well-formed (invalid token): line 1, column 0",
        ),
        (
            edited(USAGE_POINT_FEED, _usage_point_content_type("atom+json")),
            f"UsagePoint entry {UP_HREF}: content is atom+json, not ESPI XML",
        ),
        (
            edited(USAGE_POINT_FEED, _usage_point_content_type("application/json")),
            f"UsagePoint entry {UP_HREF}: content is application/json, not ESPI XML",
        ),
    ],
    ids=[
        "block-content-is-text",
        "block-content-is-a-link",
        "block-content-holds-two",
        "block-self-link-outside-meter-reading",
        "block-holds-reading-type",
        "block-without-content",
        "block-without-self-link",
        "block-without-id",
        "json-payload",
        "atom-json-content",
        "json-content",
    ],
)
def test_broken_document_is_refused_with_a_message_naming_the_problem(
    document: bytes, message: str
) -> None:
    assert refusal(document) == message


def _set_reading_value(root: ET.Element) -> None:
    value = interval_readings(root)[1].find(f"{N}value")
    assert value is not None
    value.text = "ten"


def _drop_reading_type_link(root: ET.Element) -> None:
    meter_reading = entry_holding(root, "MeterReading")
    for link in meter_reading.findall(f"{A}link"):
        if "/ReadingType/" in (link.get("href") or ""):
            meter_reading.remove(link)


def _drop_usage_point(root: ET.Element) -> None:
    root.remove(entry_holding(root, "UsagePoint"))


def _move_fifth_reading_to_the_first_start(root: ET.Element) -> None:
    readings = interval_readings(root)
    first, fifth = (readings[i].find(f"{N}timePeriod/{N}start") for i in (0, 4))
    assert first is not None and fifth is not None
    fifth.text = first.text


def _set_multiplier(root: ET.Element) -> None:
    multiplier = resource_of(root, "ReadingType").find(f"{N}powerOfTenMultiplier")
    assert multiplier is not None
    multiplier.text = "99"


def _repeat_usage_point(root: ET.Element) -> None:
    root.append(copy.deepcopy(entry_holding(root, "UsagePoint")))


def _foreign_content(root: ET.Element) -> None:
    content = content_of(root, "UsagePoint")
    content.clear()
    content.append(ET.Element("{urn:example}UsagePoint"))


DAMAGES: list[Edit] = [
    _set_reading_value,
    _drop_reading_type_link,
    _drop_usage_point,
    _move_fifth_reading_to_the_first_start,
    _set_multiplier,
    _repeat_usage_point,
    _foreign_content,
]


def damage_messages(
    *,
    usage_point: str,
    meter_reading: str,
    interval_block: str,
    reading_type: str,
    first_start: str,
) -> list[str]:
    """What the parser says about each of DAMAGES, in a batch with these self links."""
    return [
        f"IntervalBlock entry {interval_block}: IntervalReading 2: value is 'ten', not an integer",
        f"MeterReading entry {meter_reading} has no ReadingType: none of its related links is a "
        "ReadingType entry in this document",
        f"MeterReading entry {meter_reading}: its up link {usage_point}/MeterReading is not under "
        "any UsagePoint in this document",
        f"MeterReading entry {meter_reading}: IntervalBlock entry {interval_block} IntervalReading "
        f"1 and IntervalBlock entry {interval_block} IntervalReading 5 both start at {first_start} "
        "with different readings",
        f"ReadingType entry {reading_type}: powerOfTenMultiplier 99 is outside ESPI's range "
        "(-12 to 12)",
        f"UsagePoint entry {usage_point}: an earlier UsagePoint entry has the same self link",
        f"UsagePoint entry {usage_point}: content is UsagePoint in namespace urn:example, not ESPI",
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    list(
        zip(
            DAMAGES,
            damage_messages(
                usage_point=UP_HREF,
                meter_reading=MR_HREF,
                interval_block=IB_HREF,
                reading_type=RT_HREF,
                first_start="2024-10-08T00:00:00+00:00",
            ),
            strict=True,
        )
    ),
)
def test_damaged_batch_is_refused_with_a_message_naming_what_and_where(
    edit: Edit, message: str
) -> None:
    assert refusal(edited(BATCH, edit)) == message


def test_a_document_that_is_not_atom_is_refused() -> None:
    assert (
        refusal(b"<html><body/></html>")
        == "root element is html (no namespace), not an Atom feed or entry"
    )


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

    message = refusal(document)

    assert message.startswith("refused: the document declares a DTD (feed)")
    assert time.monotonic() - began < 1


# Properties: no input makes it raise anything but EspiParseError

SEEDS = {
    "subscription": BATCH,
    "usage-point-feed": USAGE_POINT_FEED,
    "usage-point-entry": USAGE_POINT_ENTRY,
    "retail-customer": RETAIL_CUSTOMER_FEED,
    "gas-nested-reading-type": GAS_FEED,
    "nameless-customer": NAMELESS_CUSTOMER_FEED,
    "authorizations": AUTHORIZATION_FEED,
}

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


def byte_mutation(document: bytes, data: st.DataObject) -> bytes:
    mutated = bytearray(document)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated)))
        length = data.draw(st.integers(0, 40))
        operation = data.draw(st.sampled_from(["delete", "insert", "overwrite", "repeat"]))
        if operation == "delete":
            del mutated[at : at + length]
        elif operation == "insert":
            mutated[at:at] = data.draw(st.binary(max_size=length))
        elif operation == "overwrite":
            mutated[at : at + length] = data.draw(st.binary(min_size=length, max_size=length))
        else:
            mutated[at:at] = mutated[at : at + length]
    return bytes(mutated)


def element_mutation(document: bytes, data: st.DataObject) -> bytes:
    # Mutating the tree rather than the bytes keeps the XML well formed, so the parser's
    # ESPI checks run instead of stopping at "not XML".
    root = ET.fromstring(document)
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
    return ET.tostring(root)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_only_ever_raise_espi_parse_error(data: bytes) -> None:
    parses_or_refuses(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_byte_mutations_of_our_documents_only_ever_raise_espi_parse_error(
    name: str, data: st.DataObject
) -> None:
    parses_or_refuses(byte_mutation(SEEDS[name], data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_element_mutations_of_our_documents_only_ever_raise_espi_parse_error(
    name: str, data: st.DataObject
) -> None:
    parses_or_refuses(element_mutation(SEEDS[name], data))


# Real utilities' files (reference data): run only when LEAP_CONNECT_REFERENCE_DATA is set.

UTILITYAPI = "https://utilityapi.com/DataCustodian/espi/1_1/resource"
EDDIE_UP_HREF = f"{UTILITYAPI}/Subscription/467189/UsagePoint/1669851"
EDDIE_MR_HREF = f"{EDDIE_UP_HREF}/MeterReading/1669851-1725408000-1725321600_kwh_19"
EDDIE_IB_HREF = f"{EDDIE_MR_HREF}/IntervalBlock/000001"
EDDIE_RT_HREF = f"{UTILITYAPI}/ReadingType/467189_1669851_1669851-1725408000-1725321600_kwh_19"


def real_file(name: str) -> bytes:
    return green_button_file(name).read_bytes()


def parse_real_file(name: str) -> EspiFeed:
    return parse_feed(real_file(name))


def test_eddie_batch_subscription_yields_one_meter_with_67_quarter_hour_readings() -> None:
    feed = parse_real_file("eddie-Batch.xml")

    assert feed.self_link == f"{UTILITYAPI}/Batch/Subscription/467189"
    [usage_point] = feed.usage_points
    assert usage_point.self_link == EDDIE_UP_HREF
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
    assert meter_reading.self_link == EDDIE_MR_HREF
    assert meter_reading.meter_reading_id == "1669851-1725408000-1725321600_kwh_19"
    reading_type = meter_reading.reading_type
    assert reading_type.self_link == EDDIE_RT_HREF
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
    feed = parse_real_file("openespi-test_usage_data.xml")

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
    feed = parse_real_file("openespi-Usage-Subscription-Feed-Anonymized.xml")

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


def test_eddie_usage_point_feed_yields_the_meter_without_readings() -> None:
    feed = parse_real_file("eddie-UsagePoint.xml")

    [usage_point] = feed.usage_points
    assert usage_point.usage_point_id == "1669851"
    assert usage_point.service_kind == 0
    assert usage_point.meter_readings == ()
    # It links LocalTimeParameters that this document does not carry.
    assert usage_point.local_time_parameters is None


def test_eddie_content_without_a_type_is_read_as_xml_like_openespi_and_eddie_do() -> None:
    assert parse_real_file("eddie-UsagePointWithoutType.xml") == parse_real_file(
        "eddie-UsagePoint.xml"
    )


def test_eddie_meter_reading_without_interval_blocks_is_data_not_ready_not_an_error() -> None:
    feed = parse_real_file("eddie-BatchWithoutIntervalBlock.xml")

    [meter_reading] = feed.usage_points[0].meter_readings
    assert meter_reading.reading_type.self_link == EDDIE_RT_HREF
    assert meter_reading.interval_readings == ()


def test_a_single_atom_entry_cut_from_an_eddie_feed_parses() -> None:
    document = real_file("eddie-UsagePoint.xml")
    entry = document[document.index(b"<entry") : document.index(b"</entry>") + len(b"</entry>")]

    feed = parse_feed(entry)

    assert feed.self_link is None
    assert [up.self_link for up in feed.usage_points] == [EDDIE_UP_HREF]


def test_eddie_retail_customer_feed_yields_customer_account_and_three_service_locations() -> None:
    feed = parse_real_file("eddie-accounting_point_data.xml")

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
    feed = parse_real_file("openespi-Customer-Subscription-Feed-Anonymized.xml")

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
def test_openespi_authorization_documents_parse_to_an_empty_tree(name: str) -> None:
    feed = parse_real_file(name)

    assert feed.usage_points == ()
    assert feed.customers == ()
    assert feed.local_time_parameters == ()


def test_eddie_batch_readings_are_sorted_by_start_whatever_order_they_arrive_in() -> None:
    reversed_batch = edited(real_file("eddie-Batch.xml"), _reverse_readings)

    assert parse_feed(reversed_batch) == parse_real_file("eddie-Batch.xml")


def test_eddie_batch_with_a_repeated_block_counts_its_readings_once() -> None:
    repeated = edited(real_file("eddie-Batch.xml"), _repeat_interval_block)

    assert parse_feed(repeated) == parse_real_file("eddie-Batch.xml")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "eddie-BatchWithInvalidIntervalBlock.xml",
            f"IntervalBlock entry {EDDIE_IB_HREF}: content has no ESPI resource, only the text "
            "'INVALID'",
        ),
        (
            "eddie-BatchWithInvalidSelfLink.xml",
            f"IntervalBlock entry {EDDIE_IB_HREF.replace('/MeterReading/', '/INVALID/')}: "
            f"the self link is not under its up link {EDDIE_MR_HREF}/IntervalBlock",
        ),
        (
            "eddie-BatchWithWrongContentForIntervalBlock.xml",
            f"IntervalBlock entry {EDDIE_IB_HREF}: content is ReadingType, but the self link says "
            "IntervalBlock",
        ),
        (
            "eddie-BatchWithoutContentForIntervalBlock.xml",
            f"IntervalBlock entry {EDDIE_IB_HREF} has no content",
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
            f"UsagePoint entry {EDDIE_UP_HREF}: content is atom+json, not ESPI XML",
        ),
    ],
)
def test_broken_eddie_file_is_refused_with_a_message_naming_the_problem(
    name: str, message: str
) -> None:
    assert refusal(real_file(name)) == message


@pytest.mark.parametrize(
    ("edit", "message"),
    list(
        zip(
            DAMAGES,
            damage_messages(
                usage_point=EDDIE_UP_HREF,
                meter_reading=EDDIE_MR_HREF,
                interval_block=EDDIE_IB_HREF,
                reading_type=EDDIE_RT_HREF,
                first_start="2024-09-03T00:00:00+00:00",
            ),
            strict=True,
        )
    ),
)
def test_damaged_eddie_batch_is_refused_with_a_message_naming_what_and_where(
    edit: Edit, message: str
) -> None:
    assert refusal(edited(real_file("eddie-Batch.xml"), edit)) == message


REAL_SEEDS = (
    "eddie-Batch.xml",
    "eddie-UsagePoint.xml",
    "eddie-accounting_point_data.xml",
    "openespi-Usage-Subscription-Feed-Anonymized.xml",
    "openespi-Customer-Subscription-Feed-Anonymized.xml",
)


@pytest.fixture(scope="module")
def real_seeds() -> dict[str, bytes]:
    return {name: real_file(name) for name in REAL_SEEDS}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_byte_mutations_of_real_files_only_ever_raise_espi_parse_error(
    real_seeds: dict[str, bytes], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(REAL_SEEDS))
    parses_or_refuses(byte_mutation(real_seeds[name], data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_element_mutations_of_real_files_only_ever_raise_espi_parse_error(
    real_seeds: dict[str, bytes], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(REAL_SEEDS))
    parses_or_refuses(element_mutation(real_seeds[name], data))
