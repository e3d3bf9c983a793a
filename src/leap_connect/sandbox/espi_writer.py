"""Writes the Green Button (ESPI) Atom feeds and entries a data custodian serves, as XML trees."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leap_connect.sandbox.customers import (
    FLOW_RECEIVED,
    PACIFIC_UTC_OFFSET_SECONDS,
    Classification,
    CustomerProfile,
    IntervalBlockData,
    SandboxMeterReading,
    SandboxUsagePoint,
    ServiceAddress,
)

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
CUSTOMER_NS = "http://naesb.org/espi/customer"
ATOM_MEDIA_TYPE = "application/atom+xml"

# Prefixes only make the documents readable; any prefix is equally valid XML.
ET.register_namespace("espi", ESPI_NS)
ET.register_namespace("cust", CUSTOMER_NS)

# US Pacific time as ESPI encodes it (DstRuleType bit fields): DST starts the second Sunday of
# March at 02:00 and ends the first Sunday of November at 02:00.
DST_START_RULE = "360E2000"
DST_END_RULE = "B40E2000"
DST_OFFSET_SECONDS = 3600
LOCAL_TIME_PARAMETERS_ID = "pacific"

# ReadingType codes (ESPI enumerations): delta data, electricity, normal, energy, S12N. The flow
# direction is each MeterReading's own: 1 forward (delivered), 19 reverse (received).
ACCUMULATION_DELTA_DATA = 4
COMMODITY_ELECTRICITY_SECONDARY_METERED = 1
CURRENCY_USD = 840
DATA_QUALIFIER_NORMAL = 12
MEASUREMENT_KIND_ENERGY = 12
PHASE_S12N = 769
SERVICE_KIND_ELECTRICITY = 0


@dataclass(frozen=True, slots=True)
class Link:
    rel: str
    href: str
    type: str


@dataclass(frozen=True, slots=True)
class Entry:
    title: str
    self_link: Link
    links: tuple[Link, ...]
    published: datetime
    updated: datetime
    content: ET.Element

    @property
    def entry_id(self) -> str:
        # Stable: the same resource always has the same Atom id.
        return uuid.uuid5(uuid.NAMESPACE_URL, self.self_link.href).urn


@dataclass(frozen=True, slots=True)
class ResourceUrls:
    """Absolute URLs of one custodian's ESPI resources (`base` ends in /espi/1_1/resource)."""

    base: str

    def subscription_batch(self, subscription_id: str) -> str:
        return f"{self.base}/Batch/Subscription/{subscription_id}"

    def usage_points(self, subscription_id: str) -> str:
        return f"{self.base}/Subscription/{subscription_id}/UsagePoint"

    def usage_point(self, subscription_id: str, point: SandboxUsagePoint) -> str:
        return f"{self.usage_points(subscription_id)}/{point.usage_point_id}"

    def meter_readings(self, subscription_id: str, point: SandboxUsagePoint) -> str:
        return f"{self.usage_point(subscription_id, point)}/MeterReading"

    def meter_reading(
        self, subscription_id: str, point: SandboxUsagePoint, meter_reading_id: str = ""
    ) -> str:
        """The MeterReading `meter_reading_id` of the point; its delivered one by default."""
        mr_id = meter_reading_id or point.meter_reading_id
        return f"{self.meter_readings(subscription_id, point)}/{mr_id}"

    def interval_blocks(
        self, subscription_id: str, point: SandboxUsagePoint, meter_reading_id: str = ""
    ) -> str:
        return f"{self.meter_reading(subscription_id, point, meter_reading_id)}/IntervalBlock"

    def reading_types(self) -> str:
        return f"{self.base}/ReadingType"

    def reading_type(self, point: SandboxUsagePoint, reading_type_id: str = "") -> str:
        return f"{self.reading_types()}/{reading_type_id or point.reading_type_id}"

    def local_time_parameters_feed(self) -> str:
        return f"{self.base}/LocalTimeParameters"

    def local_time_parameters(self) -> str:
        return f"{self.local_time_parameters_feed()}/{LOCAL_TIME_PARAMETERS_ID}"

    def authorizations(self) -> str:
        return f"{self.base}/Authorization"

    def authorization(self, authorization_id: str) -> str:
        return f"{self.authorizations()}/{authorization_id}"

    def retail_customer_batch(self, retail_customer_id: str) -> str:
        return f"{self.base}/Batch/RetailCustomer/{retail_customer_id}"

    def retail_customer(self, retail_customer_id: str) -> str:
        return f"{self.base}/RetailCustomer/{retail_customer_id}"


# --- documents ------------------------------------------------------------------------------


def feed_document(
    *, title: str, self_href: str, self_type: str, updated: datetime, entries: Iterable[Entry]
) -> bytes:
    feed = ET.Element(_atom("feed"))
    _text(feed, _atom("id"), uuid.uuid5(uuid.NAMESPACE_URL, self_href).urn)
    _text(feed, _atom("title"), title)
    _text(feed, _atom("updated"), _atom_time(updated))
    _link(feed, Link("self", self_href, self_type))
    for entry in entries:
        feed.append(_entry_element(entry))
    return _serialize(feed)


def entry_document(entry: Entry) -> bytes:
    return _serialize(_entry_element(entry))


def _entry_element(entry: Entry) -> ET.Element:
    element = ET.Element(_atom("entry"))
    _text(element, _atom("id"), entry.entry_id)
    _link(element, entry.self_link)
    for link in entry.links:
        _link(element, link)
    _text(element, _atom("title"), entry.title)
    # No `type` attribute, as in the Green Button Alliance's samples: the ESPI element is it.
    ET.SubElement(element, _atom("content")).append(entry.content)
    _text(element, _atom("published"), _atom_time(entry.published))
    _text(element, _atom("updated"), _atom_time(entry.updated))
    return element


def _serialize(root: ET.Element) -> bytes:
    root.set("xmlns", ATOM_NS)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _atom(name: str) -> str:
    # Atom elements are written unqualified under an explicit default namespace on the root:
    # ElementTree's own `default_namespace` refuses the unqualified attributes Atom links use, and
    # registering "" as a prefix would change every other ElementTree document in the process.
    return name


# --- usage (namespace http://naesb.org/espi) --------------------------------------------------


def usage_point_entry(
    urls: ResourceUrls, subscription_id: str, point: SandboxUsagePoint, *, published: datetime
) -> Entry:
    content = _espi("UsagePoint")
    _espi_text(_espi_child(content, "ServiceCategory"), "kind", SERVICE_KIND_ELECTRICITY)
    _espi_text(content, "status", 1)
    delivery_point = _espi_child(content, "serviceDeliveryPoint")
    _espi_text(delivery_point, "name", point.service_point_id)
    _espi_text(delivery_point, "tariffProfile", point.tariff)
    _espi_text(delivery_point, "customerAgreement", point.service_agreement_id)
    return Entry(
        title=point.title,
        self_link=Link("self", urls.usage_point(subscription_id, point), "espi-entry/UsagePoint"),
        links=(
            Link("up", urls.usage_points(subscription_id), "espi-feed/UsagePoint"),
            Link("related", urls.meter_readings(subscription_id, point), "espi-feed/MeterReading"),
            Link("related", urls.local_time_parameters(), "espi-entry/LocalTimeParameters"),
        ),
        published=published,
        updated=published,
        content=content,
    )


def meter_reading_entry(
    urls: ResourceUrls,
    subscription_id: str,
    point: SandboxUsagePoint,
    *,
    published: datetime,
    reading: SandboxMeterReading | None = None,
) -> Entry:
    """The MeterReading entry of one of the point's series (its delivered one by default)."""
    reading = reading or point.meter_readings[0]
    href = urls.meter_reading(subscription_id, point, reading.meter_reading_id)
    return Entry(
        title=reading.title,
        self_link=Link("self", href, "espi-entry/MeterReading"),
        links=(
            Link("up", urls.meter_readings(subscription_id, point), "espi-feed/MeterReading"),
            Link(
                "related",
                urls.interval_blocks(subscription_id, point, reading.meter_reading_id),
                "espi-feed/IntervalBlock",
            ),
            Link(
                "related",
                urls.reading_type(point, reading.reading_type_id),
                "espi-entry/ReadingType",
            ),
        ),
        published=published,
        updated=published,
        content=_espi("MeterReading"),
    )


def reading_type_entry(
    urls: ResourceUrls,
    point: SandboxUsagePoint,
    *,
    published: datetime,
    reading: SandboxMeterReading | None = None,
) -> Entry:
    reading = reading or point.meter_readings[0]
    content = _espi("ReadingType")
    _espi_text(content, "accumulationBehaviour", ACCUMULATION_DELTA_DATA)
    _espi_text(content, "commodity", COMMODITY_ELECTRICITY_SECONDARY_METERED)
    _espi_text(content, "currency", CURRENCY_USD)
    _espi_text(content, "dataQualifier", DATA_QUALIFIER_NORMAL)
    _espi_text(content, "flowDirection", reading.flow_direction)
    _espi_text(content, "intervalLength", point.interval_seconds)
    _espi_text(content, "kind", MEASUREMENT_KIND_ENERGY)
    _espi_text(content, "phase", PHASE_S12N)
    _espi_text(content, "powerOfTenMultiplier", point.power_of_ten_multiplier)
    _espi_text(content, "timeAttribute", 0)
    _espi_text(content, "uom", point.uom)
    minutes = point.interval_seconds // 60
    what = "received" if reading.flow_direction == FLOW_RECEIVED else "delivered"
    return Entry(
        title=f"Energy {what}, {minutes}-minute intervals",
        self_link=Link(
            "self", urls.reading_type(point, reading.reading_type_id), "espi-entry/ReadingType"
        ),
        links=(Link("up", urls.reading_types(), "espi-feed/ReadingType"),),
        published=published,
        updated=published,
        content=content,
    )


def interval_block_entry(
    urls: ResourceUrls, subscription_id: str, point: SandboxUsagePoint, block: IntervalBlockData
) -> Entry:
    content = _espi("IntervalBlock")
    _interval(content, "interval", block.duration, block.start)
    duration = str(block.interval_seconds)
    reading_tag, period_tag = _q("IntervalReading"), _q("timePeriod")
    duration_tag, start_tag, value_tag = _q("duration"), _q("start"), _q("value")
    sub = ET.SubElement
    # The hot loop of a year of readings: plain SubElement calls, no helper per element.
    for start, value in block.readings:
        reading = sub(content, reading_tag)
        period = sub(reading, period_tag)
        sub(period, duration_tag).text = duration
        sub(period, start_tag).text = str(start)
        sub(reading, value_tag).text = str(value)
    # A block is published once its last interval has ended.
    published = datetime.fromtimestamp(block.start + block.duration, UTC)
    feed_href = urls.interval_blocks(subscription_id, point, block.meter_reading_id)
    return Entry(
        title="Interval readings",
        self_link=Link("self", f"{feed_href}/{block.block_id}", "espi-entry/IntervalBlock"),
        links=(
            Link("up", feed_href, "espi-feed/IntervalBlock"),
            Link(
                "related",
                urls.meter_reading(subscription_id, point, block.meter_reading_id),
                "espi-entry/MeterReading",
            ),
        ),
        published=published,
        updated=published,
        content=content,
    )


def local_time_parameters_entry(
    urls: ResourceUrls, *, published: datetime, namespace: str = ESPI_NS
) -> Entry:
    content = ET.Element(f"{{{namespace}}}LocalTimeParameters")
    for name, value in (
        ("dstEndRule", DST_END_RULE),
        ("dstOffset", DST_OFFSET_SECONDS),
        ("dstStartRule", DST_START_RULE),
        ("tzOffset", PACIFIC_UTC_OFFSET_SECONDS),
    ):
        _text(content, f"{{{namespace}}}{name}", str(value))
    prefix = "espi" if namespace == ESPI_NS else "cust"
    return Entry(
        title="Pacific Time",
        self_link=Link("self", urls.local_time_parameters(), f"{prefix}-entry/LocalTimeParameters"),
        links=(
            Link("up", urls.local_time_parameters_feed(), f"{prefix}-feed/LocalTimeParameters"),
        ),
        published=published,
        updated=published,
        content=content,
    )


def subscription_entries(
    urls: ResourceUrls,
    subscription_id: str,
    points: Sequence[SandboxUsagePoint],
    blocks: Sequence[Sequence[IntervalBlockData]],
    *,
    published: datetime,
) -> list[Entry]:
    """A Batch/Subscription: each UsagePoint with its MeterReadings, their ReadingTypes and
    blocks (a point's blocks, of all its MeterReadings, in `blocks`)."""
    entries: list[Entry] = []
    for point, point_blocks in zip(points, blocks, strict=True):
        entries.append(usage_point_entry(urls, subscription_id, point, published=published))
        for reading in point.meter_readings:
            entries.append(
                meter_reading_entry(
                    urls, subscription_id, point, published=published, reading=reading
                )
            )
            entries.append(reading_type_entry(urls, point, published=published, reading=reading))
            entries.extend(
                interval_block_entry(urls, subscription_id, point, block)
                for block in point_blocks
                if (block.meter_reading_id or point.meter_reading_id) == reading.meter_reading_id
            )
    entries.append(local_time_parameters_entry(urls, published=published))
    return entries


# --- authorization ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """What an ESPI Authorization resource shows about one customer's grant to one client."""

    authorization_id: str
    active: bool
    scope: str
    grant_type: str
    authorized_start: datetime
    authorized_seconds: int
    published_start: datetime
    published_seconds: int
    expires_at: datetime
    resource_uri: str
    authorization_uri: str
    customer_resource_uri: str
    published: datetime
    updated: datetime


def authorization_entry(urls: ResourceUrls, view: AuthorizationView) -> Entry:
    content = _espi("Authorization")
    _interval(content, "authorizedPeriod", view.authorized_seconds, _epoch(view.authorized_start))
    _interval(content, "publishedPeriod", view.published_seconds, _epoch(view.published_start))
    _espi_text(
        content, "status", 1 if view.active else 0
    )  # AuthorizationStatus: 1 active, 0 revoked
    _espi_text(content, "expires_at", _epoch(view.expires_at))
    _espi_text(content, "grant_type", view.grant_type)
    _espi_text(content, "scope", view.scope)
    _espi_text(content, "token_type", "Bearer")
    _espi_text(content, "resourceURI", view.resource_uri)
    _espi_text(content, "authorizationURI", view.authorization_uri)
    _espi_text(content, "customerResourceURI", view.customer_resource_uri)
    return Entry(
        title="Authorization",
        self_link=Link("self", view.authorization_uri, "espi-entry/Authorization"),
        links=(
            Link("up", urls.authorizations(), "espi-feed/Authorization"),
            Link("related", view.resource_uri, "espi-entry/Subscription"),
        ),
        published=view.published,
        updated=view.updated,
        content=content,
    )


# --- retail customer (namespace http://naesb.org/espi/customer) -------------------------------


def retail_customer_entries(
    urls: ResourceUrls, subscription_id: str, profile: CustomerProfile, *, published: datetime
) -> list[Entry]:
    """A Batch/RetailCustomer: Customer, CustomerAccount, then per usage point its agreement,
    service location and meter, the way Green Button data custodians lay it out."""
    customer_href = f"{urls.retail_customer(profile.retail_customer_id)}/Customer"
    customer_self = f"{customer_href}/{profile.retail_customer_id}"
    account_self = f"{customer_self}/CustomerAccount/{profile.account_number}"
    commercial = profile.classification is Classification.COMMERCIAL

    customer = _cust("Customer")
    organisation = _cust_child(customer, "Organisation")
    _street_address(_cust_child(organisation, "streetAddress"), profile.mailing_address)
    if commercial:
        _cust_text(organisation, "organisationName", profile.customer_name)
    _cust_text(customer, "kind", "commercialIndustrial" if commercial else "residential")
    _cust_text(customer, "customerName", profile.customer_name)

    account = _cust("CustomerAccount")
    contact = _cust_child(account, "contactInfo")
    _street_address(_cust_child(contact, "streetAddress"), profile.mailing_address)
    _cust_text(account, "accountId", profile.account_number)

    entries = [
        Entry(
            title="Customer",
            self_link=Link("self", customer_self, "cust-entry/Customer"),
            links=(
                Link("up", customer_href, "cust-feed/Customer"),
                Link("related", f"{customer_self}/CustomerAccount", "cust-feed/CustomerAccount"),
            ),
            published=published,
            updated=published,
            content=customer,
        ),
        Entry(
            title="CustomerAccount",
            self_link=Link("self", account_self, "cust-entry/CustomerAccount"),
            links=(
                Link("up", f"{customer_self}/CustomerAccount", "cust-feed/CustomerAccount"),
                Link("related", customer_self, "cust-entry/Customer"),
                Link("related", f"{account_self}/CustomerAgreement", "cust-feed/CustomerAgreement"),
            ),
            published=published,
            updated=published,
            content=account,
        ),
    ]
    for point in profile.usage_points:
        entries.extend(
            _service_entries(urls, subscription_id, account_self, point, published=published)
        )
    entries.append(local_time_parameters_entry(urls, published=published, namespace=CUSTOMER_NS))
    return entries


def _service_entries(
    urls: ResourceUrls,
    subscription_id: str,
    account_self: str,
    point: SandboxUsagePoint,
    *,
    published: datetime,
) -> list[Entry]:
    agreement_self = f"{account_self}/CustomerAgreement/{point.service_agreement_id}"
    location_self = f"{agreement_self}/ServiceLocation/{point.service_point_id}"
    meter_self = f"{location_self}/Meter/{point.meter_serial_number}"
    usage_point_href = urls.usage_point(subscription_id, point)

    agreement = _cust("CustomerAgreement")
    _cust_text(agreement, "agreementId", point.service_agreement_id)

    location = _cust("ServiceLocation")
    _cust_text(location, "type", "service")
    _street_address(_cust_child(location, "mainAddress"), point.address)
    _cust_text(
        _cust_child(_cust_child(location, "UsagePoints"), "UsagePoint"), None, usage_point_href
    )

    meter = _cust("Meter")
    _cust_text(meter, "type", "electric")
    _cust_text(meter, "serialNumber", point.meter_serial_number)
    _cust_text(meter, "intervalLength", str(point.interval_seconds))

    return [
        Entry(
            title="CustomerAgreement",
            self_link=Link("self", agreement_self, "cust-entry/CustomerAgreement"),
            links=(
                Link("up", f"{account_self}/CustomerAgreement", "cust-feed/CustomerAgreement"),
                Link("related", f"{agreement_self}/ServiceLocation", "cust-feed/ServiceLocation"),
            ),
            published=published,
            updated=published,
            content=agreement,
        ),
        Entry(
            title="ServiceLocation",
            self_link=Link("self", location_self, "cust-entry/ServiceLocation"),
            links=(
                Link("up", f"{agreement_self}/ServiceLocation", "cust-feed/ServiceLocation"),
                Link("related", f"{location_self}/Meter", "cust-feed/Meter"),
                Link("related", usage_point_href, "espi-entry/UsagePoint"),
            ),
            published=published,
            updated=published,
            content=location,
        ),
        Entry(
            title="Meter",
            self_link=Link("self", meter_self, "cust-entry/Meter"),
            links=(
                Link("up", f"{location_self}/Meter", "cust-feed/Meter"),
                Link("related", location_self, "cust-entry/ServiceLocation"),
                Link("related", usage_point_href, "espi-entry/UsagePoint"),
            ),
            published=published,
            updated=published,
            content=meter,
        ),
    ]


def _street_address(element: ET.Element, address: ServiceAddress) -> None:
    _cust_text(_cust_child(element, "streetDetail"), "addressGeneral", address.street)
    town = _cust_child(element, "townDetail")
    _cust_text(town, "name", address.city)
    _cust_text(town, "stateOrProvince", address.state)
    _cust_text(town, "country", "US")
    _cust_text(element, "postalCode", address.postal_code)


# --- small builders -------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{ESPI_NS}}}{name}"


def _espi(name: str) -> ET.Element:
    return ET.Element(_q(name))


def _espi_child(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, _q(name))


def _espi_text(parent: ET.Element, name: str, value: str | int) -> None:
    ET.SubElement(parent, _q(name)).text = str(value)


def _cust(name: str) -> ET.Element:
    return ET.Element(f"{{{CUSTOMER_NS}}}{name}")


def _cust_child(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{CUSTOMER_NS}}}{name}")


def _cust_text(parent: ET.Element, name: str | None, value: str) -> None:
    """Set `value` as the text of a new child `name`, or of `parent` itself when name is None."""
    target = parent if name is None else _cust_child(parent, name)
    target.text = value


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _link(parent: ET.Element, link: Link) -> None:
    ET.SubElement(parent, _atom("link"), {"rel": link.rel, "href": link.href, "type": link.type})


def _interval(parent: ET.Element, name: str, duration: int, start: int) -> None:
    interval = _espi_child(parent, name)
    _espi_text(interval, "duration", duration)
    _espi_text(interval, "start", start)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
