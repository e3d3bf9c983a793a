"""Green Button documents for the ESPI parser tests, written by the sandbox's writer or by hand.

Every value a test expects can be read off the inputs below. Nothing here comes from a utility's
files; those are reference data (tests/support/reference_data.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from leap_connect.sandbox.customers import (
    Classification,
    CustomerProfile,
    IntervalBlockData,
    SandboxUsagePoint,
    ServiceAddress,
)
from leap_connect.sandbox.espi_writer import (
    AuthorizationView,
    ResourceUrls,
    authorization_entry,
    entry_document,
    feed_document,
    retail_customer_entries,
    subscription_entries,
    usage_point_entry,
)

A = "{http://www.w3.org/2005/Atom}"
N = "{http://naesb.org/espi}"

# --- a subscription written by the sandbox's writer ------------------------------------------

ORIGIN = "https://custodian.example"
BASE = f"{ORIGIN}/DataCustodian/espi/1_1/resource"
URLS = ResourceUrls(BASE)
SUBSCRIPTION_ID = "5150"
PUBLISHED = datetime(2024, 10, 9, tzinfo=UTC)

HOME = ServiceAddress("1200 Example Ave", "Springfield", "CA", "94110")
SHOP = ServiceAddress("88 Harbor Dr", "Oakland", "CA", "94607")


def usage_point(
    usage_point_id: str,
    *,
    title: str,
    address: ServiceAddress = HOME,
    interval_seconds: int = 900,
    power_of_ten_multiplier: int = -3,
) -> SandboxUsagePoint:
    """A meter with IDs made from `usage_point_id`; its readings are the blocks a test writes."""
    return SandboxUsagePoint(
        usage_point_id=usage_point_id,
        meter_reading_id=f"{usage_point_id}-kwh",
        reading_type_id=f"{usage_point_id}-wh",
        meter_serial_number=f"M{usage_point_id}",
        service_point_id=f"SP{usage_point_id}",
        service_agreement_id=f"SA{usage_point_id}",
        tariff="E-TOU-C",
        title=title,
        address=address,
        classification=Classification.RESIDENTIAL,
        interval_seconds=interval_seconds,
        power_of_ten_multiplier=power_of_ten_multiplier,
        peak_kw=2.0,
        seed=usage_point_id.encode(),
    )


# Quarter-hour readings in mWh (powerOfTenMultiplier -3), as some custodians publish them.
METER = usage_point("7100001", title="Home electric service")

UP_HREF = f"{BASE}/Subscription/5150/UsagePoint/7100001"
MR_HREF = f"{UP_HREF}/MeterReading/7100001-kwh"
IB_HREF = f"{MR_HREF}/IntervalBlock/20241008"
RT_HREF = f"{BASE}/ReadingType/7100001-wh"
LTP_HREF = f"{BASE}/LocalTimeParameters/pacific"
BATCH_HREF = f"{BASE}/Batch/Subscription/5150"

DAY = int(datetime(2024, 10, 8, tzinfo=UTC).timestamp())
QUARTER_HOUR = 900
BATCH_READINGS = [
    (DAY, 10_000),
    (DAY + 1 * QUARTER_HOUR, 12_500),
    # Nothing from 00:30 to 07:45 UTC: the block covers the day with a gap in it.
    (DAY + 31 * QUARTER_HOUR, 230_000),
    (DAY + 32 * QUARTER_HOUR, 36_220_000),
    (DAY + 33 * QUARTER_HOUR, 480_000),
    (DAY + 95 * QUARTER_HOUR, 95_000),
]
BATCH_BLOCK = IntervalBlockData(
    block_id="20241008",
    start=DAY,
    duration=86400,
    interval_seconds=QUARTER_HOUR,
    readings=BATCH_READINGS,
)


def subscription_feed(
    points: list[SandboxUsagePoint], blocks: list[list[IntervalBlockData]]
) -> bytes:
    """A Batch/Subscription feed for the points, as the sandbox data custodian serves it."""
    return feed_document(
        title="Green Button subscription",
        self_href=BATCH_HREF,
        self_type="espi-feed/Subscription",
        updated=PUBLISHED,
        entries=subscription_entries(URLS, SUBSCRIPTION_ID, points, blocks, published=PUBLISHED),
    )


# Entries in order: UsagePoint, MeterReading, ReadingType, IntervalBlock, LocalTimeParameters.
BATCH = subscription_feed([METER], [[BATCH_BLOCK]])

USAGE_POINT_FEED = feed_document(
    title="Usage points",
    self_href=f"{BASE}/Subscription/5150/UsagePoint",
    self_type="espi-feed/UsagePoint",
    updated=PUBLISHED,
    entries=[usage_point_entry(URLS, SUBSCRIPTION_ID, METER, published=PUBLISHED)],
)

USAGE_POINT_ENTRY = entry_document(
    usage_point_entry(URLS, SUBSCRIPTION_ID, METER, published=PUBLISHED)
)


# --- a fortnight of daily blocks across the start of daylight saving time --------------------

# Readings in plain Wh, one block per local (Pacific) day from 1 to 14 March 2024. Local midnight
# is 08:00 UTC until DST begins on 10 March, 07:00 UTC after; 10 March lasts 23 hours.
FORTNIGHT_METER = usage_point("7100002", title="Shop electric service", power_of_ten_multiplier=0)
FIRST_LOCAL_MIDNIGHT = datetime(2024, 3, 1, 8, tzinfo=UTC)
DST_BEGINS = datetime(2024, 3, 10, 10, tzinfo=UTC)  # 02:00 PST


def _local_midnight(day: int) -> int:
    moment = FIRST_LOCAL_MIDNIGHT + timedelta(days=day)
    return int((moment - timedelta(hours=1) if moment > DST_BEGINS else moment).timestamp())


def fortnight_blocks() -> list[IntervalBlockData]:
    """Fourteen daily blocks, newest first; reading number n (from 0) has the value 100 + n."""
    blocks: list[IntervalBlockData] = []
    number = 0
    for day in range(14):
        start, end = _local_midnight(day), _local_midnight(day + 1)
        readings = []
        for moment in range(start, end, QUARTER_HOUR):
            readings.append((moment, 100 + number))
            number += 1
        block_id = (FIRST_LOCAL_MIDNIGHT + timedelta(days=day)).strftime("%Y%m%d")
        blocks.append(IntervalBlockData(block_id, start, end - start, QUARTER_HOUR, readings))
    # Newest first, so the parser, not the document, puts the readings in order.
    return blocks[::-1]


def fortnight_feed() -> bytes:
    return subscription_feed([FORTNIGHT_METER], [fortnight_blocks()])


# --- a retail customer written by the sandbox's writer --------------------------------------

CUSTOMER = CustomerProfile(
    utility_id="pge",
    username="espi-tests",
    classification=Classification.RESIDENTIAL,
    retail_customer_id="300200100",
    customer_name="Robin Example",
    account_number="5550001111-2",
    mailing_address=HOME,
    usage_points=(
        METER,
        usage_point("7100003", title="Garage electric service"),
        usage_point("7100004", title="Shop electric service", address=SHOP),
    ),
)
COMMERCIAL_CUSTOMER = CustomerProfile(
    utility_id="pge",
    username="espi-tests-commercial",
    classification=Classification.COMMERCIAL,
    retail_customer_id="300200200",
    customer_name="Harbor Bakery Co.",
    account_number="5550002222-3",
    mailing_address=SHOP,
    usage_points=(usage_point("7100004", title="Shop electric service", address=SHOP),),
)


def retail_customer_feed(profile: CustomerProfile) -> bytes:
    return feed_document(
        title="Retail customer",
        self_href=URLS.retail_customer_batch(profile.retail_customer_id),
        self_type="cust-feed/RetailCustomer",
        updated=PUBLISHED,
        entries=retail_customer_entries(URLS, SUBSCRIPTION_ID, profile, published=PUBLISHED),
    )


RETAIL_CUSTOMER_FEED = retail_customer_feed(CUSTOMER)


# --- authorizations written by the sandbox's writer ------------------------------------------


def authorization(authorization_id: str, *, active: bool) -> AuthorizationView:
    return AuthorizationView(
        authorization_id=authorization_id,
        active=active,
        scope="FB=1_3_4_5_13_14_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=34128000",
        grant_type="authorization_code",
        authorized_start=datetime(2024, 9, 1, tzinfo=UTC),
        authorized_seconds=31_536_000,
        published_start=datetime(2023, 9, 1, tzinfo=UTC),
        published_seconds=31_536_000,
        expires_at=datetime(2025, 9, 1, tzinfo=UTC),
        resource_uri=BATCH_HREF,
        authorization_uri=URLS.authorization(authorization_id),
        customer_resource_uri=URLS.retail_customer_batch(CUSTOMER.retail_customer_id),
        published=PUBLISHED,
        updated=PUBLISHED,
    )


AUTHORIZATION_ENTRY = entry_document(authorization_entry(URLS, authorization("41", active=True)))
AUTHORIZATION_FEED = feed_document(
    title="Authorizations",
    self_href=URLS.authorizations(),
    self_type="espi-feed/Authorization",
    updated=PUBLISHED,
    entries=[
        authorization_entry(URLS, authorization("41", active=True)),
        authorization_entry(URLS, authorization("42", active=False)),
    ],
)


# --- written by hand: what the writer does not write ------------------------------------------

GAS_BASE = "https://gas.example/espi/1_1/resource"
GAS_UP_HREF = f"{GAS_BASE}/Subscription/88/UsagePoint/GM-12"
GAS_MR_HREF = f"{GAS_UP_HREF}/MeterReading/therms"
GAS_LTP_HREF = f"{GAS_BASE}/LocalTimeParameters/eastern"

# A gas meter whose MeterReading carries its ReadingType inside it instead of linking one, in
# therms (UnitSymbolKind 169) scaled by 10**-2, in US Eastern time.
GAS_FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <id>urn:uuid:6a1f0c52-0000-4000-8000-000000000001</id>
  <title>Gas subscription</title>
  <updated>2024-01-16T00:00:00Z</updated>
  <link rel="self" href="{GAS_BASE}/Batch/Subscription/88" type="espi-feed/Subscription"/>
  <entry>
    <id>urn:uuid:6a1f0c52-0000-4000-8000-000000000002</id>
    <link rel="self" href="{GAS_UP_HREF}" type="espi-entry/UsagePoint"/>
    <link rel="up" href="{GAS_BASE}/Subscription/88/UsagePoint" type="espi-feed/UsagePoint"/>
    <link rel="related" href="{GAS_UP_HREF}/MeterReading" type="espi-feed/MeterReading"/>
    <link rel="related" href="{GAS_LTP_HREF}" type="espi-entry/LocalTimeParameters"/>
    <title>Gas meter</title>
    <content>
      <espi:UsagePoint>
        <espi:ServiceCategory><espi:kind>1</espi:kind></espi:ServiceCategory>
        <espi:status>1</espi:status>
      </espi:UsagePoint>
    </content>
  </entry>
  <entry>
    <id>urn:uuid:6a1f0c52-0000-4000-8000-000000000003</id>
    <link rel="self" href="{GAS_LTP_HREF}" type="espi-entry/LocalTimeParameters"/>
    <title>Eastern Time</title>
    <content>
      <espi:LocalTimeParameters>
        <espi:dstEndRule>B40E2000</espi:dstEndRule>
        <espi:dstOffset>3600</espi:dstOffset>
        <espi:dstStartRule>360E2000</espi:dstStartRule>
        <espi:tzOffset>-18000</espi:tzOffset>
      </espi:LocalTimeParameters>
    </content>
  </entry>
  <entry>
    <id>urn:uuid:6a1f0c52-0000-4000-8000-000000000004</id>
    <link rel="self" href="{GAS_MR_HREF}" type="espi-entry/MeterReading"/>
    <link rel="up" href="{GAS_UP_HREF}/MeterReading" type="espi-feed/MeterReading"/>
    <title>Hourly gas use</title>
    <content>
      <espi:MeterReading>
        <espi:ReadingType>
          <espi:accumulationBehaviour>4</espi:accumulationBehaviour>
          <espi:commodity>7</espi:commodity>
          <espi:flowDirection>1</espi:flowDirection>
          <espi:intervalLength>3600</espi:intervalLength>
          <espi:powerOfTenMultiplier>-2</espi:powerOfTenMultiplier>
          <espi:uom>169</espi:uom>
        </espi:ReadingType>
      </espi:MeterReading>
    </content>
  </entry>
  <entry>
    <id>urn:uuid:6a1f0c52-0000-4000-8000-000000000005</id>
    <link rel="self" href="{GAS_MR_HREF}/IntervalBlock/1" type="espi-entry/IntervalBlock"/>
    <link rel="up" href="{GAS_MR_HREF}/IntervalBlock" type="espi-feed/IntervalBlock"/>
    <title>Gas readings</title>
    <content>
      <espi:IntervalBlock>
        <espi:interval><espi:duration>10800</espi:duration><espi:start>1705294800</espi:start>
        </espi:interval>
        <espi:IntervalReading>
          <espi:timePeriod><espi:duration>3600</espi:duration><espi:start>1705294800</espi:start>
          </espi:timePeriod>
          <espi:value>12</espi:value>
        </espi:IntervalReading>
        <espi:IntervalReading>
          <espi:timePeriod><espi:duration>3600</espi:duration><espi:start>1705298400</espi:start>
          </espi:timePeriod>
          <espi:value>0</espi:value>
        </espi:IntervalReading>
        <espi:IntervalReading>
          <espi:timePeriod><espi:duration>3600</espi:duration><espi:start>1705302000</espi:start>
          </espi:timePeriod>
          <espi:value>7</espi:value>
        </espi:IntervalReading>
      </espi:IntervalBlock>
    </content>
  </entry>
</feed>
""".encode()

CUSTOMER_SELF_HREF = "https://custodian.example/espi/1_1/resource/RetailCustomer/9/Customer/9"


def customer_feed(customer: str) -> bytes:
    """A feed of one Customer entry whose content is `customer` (namespace prefix `cust`)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cust="http://naesb.org/espi/customer">
  <id>urn:uuid:2b7e15a0-0000-4000-8000-000000000001</id>
  <title>Retail customer</title>
  <link rel="self" href="https://custodian.example/espi/1_1/resource/Batch/RetailCustomer/9"/>
  <entry>
    <id>urn:uuid:2b7e15a0-0000-4000-8000-000000000002</id>
    <link rel="self" href="{CUSTOMER_SELF_HREF}" type="cust-entry/Customer"/>
    <title>Customer</title>
    <content>{customer}</content>
  </entry>
</feed>
""".encode()


def customer_with_street_address(street_address: str) -> bytes:
    """A customer known only by the streetAddress of their Organisation."""
    return customer_feed(
        "<cust:Customer><cust:Organisation>"
        f"<cust:streetAddress>{street_address}</cust:streetAddress>"
        "</cust:Organisation><cust:kind>residential</cust:kind></cust:Customer>"
    )


# A customer with an address but no name, an empty suite number and a PO box.
NAMELESS_CUSTOMER_FEED = customer_with_street_address(
    "<cust:streetDetail><cust:suiteNumber/><cust:addressGeneral>9 Quarry Rd</cust:addressGeneral>"
    "</cust:streetDetail>"
    "<cust:townDetail><cust:name>Burlington</cust:name>"
    "<cust:stateOrProvince>VT</cust:stateOrProvince><cust:country>US</cust:country></cust:townDetail>"
    "<cust:postalCode>05401-1234</cust:postalCode><cust:poBox>N/A</cust:poBox>"
)


# --- editing documents ----------------------------------------------------------------------


def edited(document: bytes, edit: Callable[[ET.Element], None]) -> bytes:
    """The document after `edit` changed its element tree in place."""
    root = ET.fromstring(document)
    edit(root)
    return ET.tostring(root)


def entry_holding(root: ET.Element, kind: str) -> ET.Element:
    """The first entry whose content is the ESPI resource `kind` (e.g. "IntervalBlock")."""
    return next(
        entry
        for entry in root.iter(f"{A}entry")
        if any(child.tag.endswith(f"}}{kind}") for child in entry.iterfind(f"{A}content/*"))
    )


def link_of(entry: ET.Element, rel: str) -> ET.Element:
    return next(link for link in entry.iterfind(f"{A}link") if link.get("rel") == rel)


def interval_readings(root: ET.Element) -> list[ET.Element]:
    return entry_holding(root, "IntervalBlock").findall(f".//{N}IntervalReading")
