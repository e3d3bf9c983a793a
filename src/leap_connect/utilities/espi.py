"""Parse Green Button (ESPI) Atom documents into usage points, meter readings and their readings.

Pure: takes the bytes a data custodian sent and returns frozen dataclasses, or raises
`EspiParseError` naming what is wrong and where. Nothing else escapes, whatever the input.

The tree follows the Atom links, the way ESPI data custodians publish them: a MeterReading
belongs to the UsagePoint whose self link its up link starts with; its ReadingType is the entry a
`related` link points to; an IntervalBlock belongs to the MeterReading whose self link its up link
starts with. Resources this module does not read (summaries, authorizations, agreements, …) are
skipped; content that is not ESPI is an error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden

__all__ = [
    "ATOM",
    "ESPI",
    "ESPI_CUSTOMER",
    "UOM_WH",
    "Address",
    "Customer",
    "CustomerAccount",
    "EspiFeed",
    "EspiParseError",
    "IntervalReading",
    "LocalTimeParameters",
    "MeterReading",
    "ReadingType",
    "Series",
    "SeriesReading",
    "ServiceLocation",
    "UsagePoint",
    "parse_feed",
    "usage_point_series",
]

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
ESPI_CUSTOMER = "http://naesb.org/espi/customer"

UOM_WH = 72
"""UnitSymbolKind for watt-hours, the only unit `IntervalReading.kwh` converts."""

# FlowDirectionKind: 1 forward ("delivered" to the customer), 19 reverse ("received" from the
# customer, always a positive value), 4 net (|forward| - |reverse|).
FLOW_DELIVERED = 1
FLOW_NET = 4
FLOW_RECEIVED = 19
Direction = Literal["delivered", "received", "net"]
DIRECTIONS: dict[int, Direction] = {
    FLOW_DELIVERED: "delivered",
    FLOW_RECEIVED: "received",
    FLOW_NET: "net",
}

# UnitSymbolKind of the quantities a series may be kept in, and how they are named; Wh is kept in
# kWh, everything else as the utility reports it (gas in therms or cubic feet, never kWh).
UNITS: dict[int, str] = {UOM_WH: "kWh", 169: "therm", 119: "ft3", 42: "m3", 132: "BTU", 128: "gal"}

# AccumulationKind values whose readings are register totals, not energy used in the interval.
_CUMULATIVE = frozenset({1, 2, 3, 9})

_A = f"{{{ATOM}}}"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# datetime's own range; a start outside it cannot be a reading anyone took.
_MIN_SECONDS = int((datetime(1, 1, 2, tzinfo=UTC) - _EPOCH).total_seconds())
_MAX_SECONDS = int((datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH).total_seconds())
# xs:long has at most 19 digits; refusing longer text keeps int() cheap on hostile input.
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)
_ENTRY_TYPE = re.compile(r"(?:espi|cust)-entry/(\w+)", re.ASCII)

# The resources this module reads, by namespace.
_ESPI_READ = frozenset(
    {"UsagePoint", "MeterReading", "ReadingType", "IntervalBlock", "LocalTimeParameters"}
)
_CUSTOMER_READ = frozenset(
    {"Customer", "CustomerAccount", "ServiceLocation", "Meter", "LocalTimeParameters"}
)
_READ = _ESPI_READ | _CUSTOMER_READ
# Resource names that, as the next-to-last segment of a self link, say what the entry holds.
_KNOWN_KINDS = _READ | {
    "ApplicationInformation",
    "Authorization",
    "BatchList",
    "CustomerAgreement",
    "ElectricPowerQualitySummary",
    "ElectricPowerUsageSummary",
    "EndDevice",
    "ProgramDateIdMappings",
    "ServiceStatus",
    "ServiceSupplier",
    "Statement",
    "Subscription",
    "UsageSummary",
}


class EspiParseError(ValueError):
    """The document is not ESPI this module can read; the message says what and where."""


@dataclass(frozen=True, slots=True)
class ReadingType:
    """How a MeterReading's values are measured: unit, scale, interval and direction."""

    self_link: str | None
    """None when the ReadingType sat inside the MeterReading instead of in its own entry."""
    uom: int | None
    power_of_ten_multiplier: int
    interval_length: int | None
    accumulation_behaviour: int | None
    commodity: int | None
    flow_direction: int | None
    currency: int | None
    kind: int | None


@dataclass(frozen=True, slots=True)
class IntervalReading:
    start: datetime
    """Timezone-aware, UTC."""
    duration_seconds: int
    value: int
    """As sent, before the ReadingType's powerOfTenMultiplier."""
    scaled_value: Decimal
    """`value` × 10**powerOfTenMultiplier, in the ReadingType's unit."""
    kwh: Decimal | None
    """`scaled_value` in kWh when the unit is Wh; None for any other unit."""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_seconds)


@dataclass(frozen=True, slots=True)
class MeterReading:
    self_link: str
    meter_reading_id: str
    """The last segment of the self link."""
    mrid: str
    """The Atom entry's id."""
    title: str | None
    reading_type: ReadingType
    interval_readings: tuple[IntervalReading, ...]
    """Every reading of every IntervalBlock of this MeterReading, sorted by start."""


@dataclass(frozen=True, slots=True)
class LocalTimeParameters:
    self_link: str
    tz_offset_seconds: int
    dst_offset_seconds: int | None
    dst_start_rule: str | None
    dst_end_rule: str | None


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """A meter, in ESPI's words: where a service is delivered and read."""

    self_link: str
    usage_point_id: str
    """The last segment of the self link."""
    mrid: str
    """The Atom entry's id."""
    title: str | None
    service_kind: int | None
    """ServiceCategory kind: 0 electricity, 1 gas, 2 water, …"""
    status: int | None
    tariff_profile: str | None
    """ServiceDeliveryPoint tariffProfile, e.g. "RES-2-TIER", when the custodian sends one."""
    customer_agreement: str | None
    """ServiceDeliveryPoint customerAgreement: the service agreement (a SAID at PG&E)."""
    local_time_parameters: LocalTimeParameters | None
    meter_readings: tuple[MeterReading, ...]


@dataclass(frozen=True, slots=True)
class SeriesReading:
    start: datetime
    """Timezone-aware, UTC."""
    duration_seconds: int
    amount: Decimal
    """In the series' unit, after powerOfTenMultiplier (Wh become kWh)."""


@dataclass(frozen=True, slots=True)
class Series:
    """A usage point's readings of one direction, interval length and unit, oldest first."""

    direction: Direction
    """"delivered" (flowDirection 1), "received" (19) or "net" (4)."""
    interval_seconds: int
    unit: str
    """"kWh", or as the utility reports it: "therm", "ft3", "m3", "BTU", "gal"."""
    readings: tuple[SeriesReading, ...]


@dataclass(frozen=True, slots=True)
class Address:
    street_1: str | None
    street_2: str | None
    city: str | None
    state_or_province: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Customer:
    self_link: str
    mrid: str
    name: str | None
    address: Address | None


@dataclass(frozen=True, slots=True)
class CustomerAccount:
    self_link: str
    mrid: str
    account_id: str | None


@dataclass(frozen=True, slots=True)
class ServiceLocation:
    self_link: str
    mrid: str
    address: Address | None
    usage_point_links: tuple[str, ...]
    """Self links of the UsagePoints serving this location (usually in another document)."""
    usage_point_ids: tuple[str, ...]
    """The last segment of each of `usage_point_links`, to match `UsagePoint.usage_point_id`."""
    meter_serial_numbers: tuple[str, ...]
    """Serial numbers of the Meter entries under this location in the same document."""


@dataclass(frozen=True, slots=True)
class EspiFeed:
    self_link: str | None
    usage_points: tuple[UsagePoint, ...]
    local_time_parameters: tuple[LocalTimeParameters, ...]
    customers: tuple[Customer, ...]
    customer_accounts: tuple[CustomerAccount, ...]
    service_locations: tuple[ServiceLocation, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    """One Atom entry, checked for what every entry needs, before its resource is read."""

    where: str
    mrid: str
    title: str | None
    self_link: str
    up_link: str | None
    related_links: tuple[str, ...]
    resource: ET.Element
    kind: str


def parse_feed(data: bytes) -> EspiFeed:
    """Read an ESPI Atom feed, or a single Atom entry, into a tree rooted at its usage points."""
    root = _parse_xml(data)
    if root.tag == f"{_A}feed":
        entry_elements = root.findall(f"{_A}entry")
        feed_self = _link(root, "self")
    elif root.tag == f"{_A}entry":
        entry_elements = [root]
        feed_self = None
    else:
        raise EspiParseError(f"root element is {_name(root.tag)}, not an Atom feed or entry")

    entries = [_read_entry(element, index) for index, element in enumerate(entry_elements, 1)]
    seen: dict[str, _Entry] = {}
    for entry in entries:
        earlier = seen.setdefault(_key(entry.self_link), entry)
        if earlier is not entry:
            raise EspiParseError(
                f"{entry.where}: an earlier {_clip(earlier.kind)} entry has the same self link"
            )
    return _build_tree(entries, feed_self)


def usage_point_series(usage_point: UsagePoint) -> tuple[Series, ...]:
    """The usage point's interval energy, one series per direction, interval length and unit.

    MeterReadings of the same series are joined. Readings this cannot call energy used in an
    interval are left out: other flow directions (reactive quadrants, totals), units outside
    `UNITS` (demand in W, …) and register totals (cumulative accumulation). A flowDirection the
    custodian left out is read as forward, ESPI's usual meaning of consumption.
    """
    joined: dict[tuple[Direction, int, str], dict[datetime, SeriesReading]] = {}
    for meter_reading in usage_point.meter_readings:
        reading_type = meter_reading.reading_type
        direction = DIRECTIONS.get(
            FLOW_DELIVERED if reading_type.flow_direction is None else reading_type.flow_direction
        )
        unit = UNITS.get(reading_type.uom) if reading_type.uom is not None else None
        if direction is None or unit is None or reading_type.accumulation_behaviour in _CUMULATIVE:
            continue
        for reading in meter_reading.interval_readings:
            length = reading_type.interval_length or reading.duration_seconds
            if length <= 0:
                continue
            amount = reading.kwh if reading.kwh is not None else reading.scaled_value
            series = joined.setdefault((direction, length, unit), {})
            earlier = series.setdefault(
                reading.start, SeriesReading(reading.start, reading.duration_seconds, amount)
            )
            if earlier.amount != amount:
                raise EspiParseError(
                    f"UsagePoint entry {_clip(usage_point.self_link)}: two MeterReadings of the "
                    f"{direction} {length}-second series start at {reading.start.isoformat()} "
                    "with different values"
                )
    return tuple(
        Series(direction, length, unit, tuple(sorted(readings.values(), key=_by_start)))
        for (direction, length, unit), readings in sorted(joined.items(), key=lambda i: i[0])
    )


def _by_start(reading: SeriesReading) -> datetime:
    return reading.start


def _parse_xml(data: bytes) -> ET.Element:
    try:
        root: ET.Element = DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden as exc:
        # Entity definitions live in the DTD, so refusing any DTD refuses both entity bombs and
        # external entities before expat expands or fetches anything.
        raise EspiParseError(
            f"refused: the document declares a DTD ({_clip(str(exc.name))}); ESPI never needs "
            "one, and its entities could expand without bound or read external files"
        ) from None
    except EntitiesForbidden as exc:
        raise EspiParseError(
            f"refused: the document declares the entity {_clip(str(exc.name))}"
        ) from None
    except DefusedXmlException as exc:
        raise EspiParseError(f"refused: {exc}") from None
    except ET.ParseError as exc:
        raise EspiParseError(f"not XML: {exc}") from None
    except (ValueError, LookupError) as exc:
        # expat reports unusable declared encodings this way rather than as a ParseError.
        raise EspiParseError(f"not XML: {exc}") from None
    return root


def _read_entry(element: ET.Element, index: int) -> _Entry:
    self_link = _link(element, "self")
    declared = _declared_kind(element, self_link)
    mrid = _text(element.find(f"{_A}id"))
    title = _text(element.find(f"{_A}title"))
    if self_link is None:
        described = ", ".join(
            part for part in (mrid, f"title {title!r}" if title else None) if part
        )
        raise EspiParseError(
            f"entry {index}{f' ({described})' if described else ''} has no self link"
        )
    where = f"{_clip(declared or 'ESPI')} entry {_clip(self_link)}"
    if mrid is None:
        raise EspiParseError(f"{where} has no id")

    content = element.find(f"{_A}content")
    if content is None:
        raise EspiParseError(f"{where} has no content")
    content_type = content.get("type")
    if content_type is not None and not _is_xml_type(content_type):
        raise EspiParseError(f"{where}: content is {_clip(content_type)}, not ESPI XML")
    # Atom calls content without a type plain text, but OpenESPI's own samples omit the type
    # on XML content, and data custodians follow them: read what is there.
    children = list(content)
    if not children:
        source = content.get("src")
        found = (
            f"a link to {_clip(source)}" if source else f"only the text {_snippet(content.text)}"
        )
        raise EspiParseError(f"{where}: content has no ESPI resource, {found}")
    if len(children) > 1:
        names = ", ".join(_name(child.tag) for child in children[:3])
        names += ", …" if len(children) > 3 else ""
        raise EspiParseError(f"{where}: content holds {len(children)} elements ({names}), not one")
    resource = children[0]
    namespace, kind = _split_tag(resource.tag)
    if namespace not in (ESPI, ESPI_CUSTOMER):
        raise EspiParseError(f"{where}: content is {_name(resource.tag)}, not ESPI")
    if declared is not None and declared != kind and (declared in _READ or kind in _READ):
        raise EspiParseError(
            f"{where}: content is {_clip(kind)}, but the self link says {_clip(declared)}"
        )
    return _Entry(
        where=f"{_clip(kind)} entry {_clip(self_link)}",
        mrid=mrid,
        title=title,
        self_link=self_link,
        up_link=_link(element, "up"),
        related_links=tuple(_links(element, "related")),
        resource=resource,
        kind=kind,
    )


def _build_tree(entries: list[_Entry], feed_self: str | None) -> EspiFeed:
    by_kind: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        namespace, _ = _split_tag(entry.resource.tag)
        by_kind.setdefault((namespace, entry.kind), []).append(entry)

    def of(namespace: str, kind: str) -> list[_Entry]:
        return by_kind.get((namespace, kind), [])

    reading_types = {
        _key(entry.self_link): _reading_type(entry.resource, entry.self_link, entry.where)
        for entry in of(ESPI, "ReadingType")
    }
    time_parameters = [
        _local_time_parameters(entry)
        for entry in of(ESPI, "LocalTimeParameters") + of(ESPI_CUSTOMER, "LocalTimeParameters")
    ]
    time_parameters_by_href = {_key(ltp.self_link): ltp for ltp in time_parameters}

    meter_reading_entries = {_key(entry.self_link): entry for entry in of(ESPI, "MeterReading")}
    meter_reading_types = {
        href: _meter_reading_type(entry, reading_types)
        for href, entry in meter_reading_entries.items()
    }
    readings: dict[str, list[tuple[IntervalReading, str]]] = {
        href: [] for href in meter_reading_entries
    }
    for entry in of(ESPI, "IntervalBlock"):
        parent = _parent(entry, meter_reading_entries, "MeterReading")
        block = _interval_readings(entry.resource, meter_reading_types[parent], entry.where)
        for number, reading in enumerate(block, 1):
            readings[parent].append((reading, f"{entry.where} IntervalReading {number}"))

    usage_point_entries = {_key(entry.self_link): entry for entry in of(ESPI, "UsagePoint")}
    meter_readings: dict[str, list[MeterReading]] = {href: [] for href in usage_point_entries}
    for href, entry in meter_reading_entries.items():
        parent = _parent(entry, usage_point_entries, "UsagePoint")
        meter_readings[parent].append(
            MeterReading(
                self_link=entry.self_link,
                meter_reading_id=_last_segment(entry.self_link),
                mrid=entry.mrid,
                title=entry.title,
                reading_type=meter_reading_types[href],
                interval_readings=_sorted_readings(readings[href], entry.where),
            )
        )

    usage_points = tuple(
        _usage_point(entry, tuple(meter_readings[href]), time_parameters_by_href)
        for href, entry in usage_point_entries.items()
    )
    return EspiFeed(
        self_link=feed_self,
        usage_points=usage_points,
        local_time_parameters=tuple(time_parameters),
        customers=tuple(_customer(entry) for entry in of(ESPI_CUSTOMER, "Customer")),
        customer_accounts=tuple(
            CustomerAccount(
                self_link=entry.self_link,
                mrid=entry.mrid,
                account_id=_child_text(entry.resource, "accountId"),
            )
            for entry in of(ESPI_CUSTOMER, "CustomerAccount")
        ),
        service_locations=tuple(
            _service_location(entry, of(ESPI_CUSTOMER, "Meter"))
            for entry in of(ESPI_CUSTOMER, "ServiceLocation")
        ),
    )


def _parent(entry: _Entry, parents: dict[str, _Entry], parent_kind: str) -> str:
    """The key of the parent whose self link the entry's up link (or, lacking one, self) extends."""
    if entry.up_link is not None and not _key(entry.self_link).startswith(
        _key(entry.up_link) + "/"
    ):
        # Which of the two is wrong cannot be told, and guessing would file readings under the
        # wrong meter.
        raise EspiParseError(
            f"{entry.where}: the self link is not under its up link {_clip(entry.up_link)}"
        )
    rel, anchor = ("up", entry.up_link) if entry.up_link is not None else ("self", entry.self_link)
    for candidate in _prefixes(_key(anchor)):
        if candidate in parents:
            return candidate
    # Dropping it would lose data without a word: a feed that holds children must hold parents.
    raise EspiParseError(
        f"{entry.where}: its {rel} link {_clip(anchor)} is not under any {parent_kind} "
        "in this document"
    )


def _meter_reading_type(entry: _Entry, reading_types: dict[str, ReadingType]) -> ReadingType:
    linked = {
        _key(href): reading_types[_key(href)]
        for href in entry.related_links
        if _key(href) in reading_types
    }
    if len(linked) > 1:
        hrefs = ", ".join(_clip(href) for href in linked)
        raise EspiParseError(f"{entry.where}: links {len(linked)} ReadingTypes ({hrefs}), not one")
    if linked:
        return next(iter(linked.values()))
    # OpenESPI's sample subscription feed nests the ReadingType in the MeterReading itself.
    nested = entry.resource.find(f"{{{ESPI}}}ReadingType")
    if nested is not None:
        return _reading_type(nested, None, entry.where)
    raise EspiParseError(
        f"{entry.where} has no ReadingType: none of its related links is a ReadingType entry in "
        "this document"
    )


def _reading_type(resource: ET.Element, self_link: str | None, where: str) -> ReadingType:
    def number(name: str) -> int | None:
        return _child_int(resource, name, where)

    multiplier = number("powerOfTenMultiplier") or 0
    if not -12 <= multiplier <= 12:
        raise EspiParseError(
            f"{where}: powerOfTenMultiplier {multiplier} is outside ESPI's range (-12 to 12)"
        )
    return ReadingType(
        self_link=self_link,
        uom=number("uom"),
        power_of_ten_multiplier=multiplier,
        interval_length=number("intervalLength"),
        accumulation_behaviour=number("accumulationBehaviour"),
        commodity=number("commodity"),
        flow_direction=number("flowDirection"),
        currency=number("currency"),
        kind=number("kind"),
    )


def _interval_readings(
    block: ET.Element, reading_type: ReadingType, where: str
) -> Iterator[IntervalReading]:
    for number, element in enumerate(block.findall(f"{{{ESPI}}}IntervalReading"), 1):
        here = f"{where}: IntervalReading {number}"
        start = _child_int(element, "timePeriod/start", here)
        duration = _child_int(element, "timePeriod/duration", here)
        value = _child_int(element, "value", here)
        if start is None or duration is None or value is None:
            # The schema makes both optional; a reading without them says nothing we can keep,
            # and the rest of the document is still good.
            continue
        if not _MIN_SECONDS <= start <= _MAX_SECONDS:
            raise EspiParseError(f"{here} starts at {start}, which is no date")
        if duration < 0:
            raise EspiParseError(f"{here} lasts {duration} seconds")
        # Decimal keeps 10**-3 exact, so scaled values sum to what the utility billed.
        scaled = Decimal(value).scaleb(reading_type.power_of_ten_multiplier)
        yield IntervalReading(
            start=_EPOCH + timedelta(seconds=start),
            duration_seconds=duration,
            value=value,
            scaled_value=scaled,
            kwh=scaled.scaleb(-3) if reading_type.uom == UOM_WH else None,
        )


def _sorted_readings(
    readings: list[tuple[IntervalReading, str]], where: str
) -> tuple[IntervalReading, ...]:
    readings.sort(key=lambda pair: pair[0].start)
    kept: list[IntervalReading] = []
    previous: tuple[IntervalReading, str] | None = None
    for reading, origin in readings:
        if previous is not None and previous[0].start == reading.start:
            # Overlapping blocks that repeat a reading are harmless; ones that disagree would
            # make any total depend on which one we kept.
            if previous[0] != reading:
                raise EspiParseError(
                    f"{where}: {previous[1]} and {origin} both start at "
                    f"{reading.start.isoformat()} with different readings"
                )
            continue
        kept.append(reading)
        previous = (reading, origin)
    return tuple(kept)


def _usage_point(
    entry: _Entry,
    meter_readings: tuple[MeterReading, ...],
    time_parameters: dict[str, LocalTimeParameters],
) -> UsagePoint:
    linked = [time_parameters[_key(h)] for h in entry.related_links if _key(h) in time_parameters]
    return UsagePoint(
        self_link=entry.self_link,
        usage_point_id=_last_segment(entry.self_link),
        mrid=entry.mrid,
        title=entry.title,
        service_kind=_child_int(entry.resource, "ServiceCategory/kind", entry.where),
        status=_child_int(entry.resource, "status", entry.where),
        # The schema spells it serviceDeliveryPoint; UtilityAPI capitalises it.
        tariff_profile=_child_text(entry.resource, "serviceDeliveryPoint/tariffProfile")
        or _child_text(entry.resource, "ServiceDeliveryPoint/tariffProfile"),
        customer_agreement=_child_text(entry.resource, "serviceDeliveryPoint/customerAgreement")
        or _child_text(entry.resource, "ServiceDeliveryPoint/customerAgreement"),
        local_time_parameters=linked[0] if linked else None,
        meter_readings=meter_readings,
    )


def _local_time_parameters(entry: _Entry) -> LocalTimeParameters:
    return LocalTimeParameters(
        self_link=entry.self_link,
        tz_offset_seconds=_required_int(entry.resource, "tzOffset", entry.where),
        dst_offset_seconds=_child_int(entry.resource, "dstOffset", entry.where),
        dst_start_rule=_child_text(entry.resource, "dstStartRule"),
        dst_end_rule=_child_text(entry.resource, "dstEndRule"),
    )


def _customer(entry: _Entry) -> Customer:
    name = _child_text(entry.resource, "customerName") or _child_text(
        entry.resource, "Organisation/organisationName"
    )
    return Customer(
        self_link=entry.self_link,
        mrid=entry.mrid,
        name=name,
        address=_address(_child(entry.resource, "Organisation/streetAddress")),
    )


def _service_location(entry: _Entry, meters: list[_Entry]) -> ServiceLocation:
    hrefs = (
        _text(element)
        for element in entry.resource.findall(_path(ESPI_CUSTOMER, "UsagePoints/UsagePoint"))
    )
    links = tuple(href for href in hrefs if href)
    under = _key(entry.self_link) + "/"
    serial_numbers = (
        _child_text(meter.resource, "serialNumber")
        for meter in meters
        if _key(meter.self_link).startswith(under)
    )
    return ServiceLocation(
        self_link=entry.self_link,
        mrid=entry.mrid,
        address=_address(_child(entry.resource, "mainAddress")),
        usage_point_links=links,
        usage_point_ids=tuple(_last_segment(link) for link in links),
        meter_serial_numbers=tuple(number for number in serial_numbers if number),
    )


def _address(element: ET.Element | None) -> Address | None:
    if element is None:
        return None

    def text(path: str) -> str | None:
        return _child_text(element, path)

    parts = [text(f"streetDetail/{name}") for name in ("number", "prefix", "name", "type")]
    # Custodians fill either the free-form lines or the parts; the free-form lines win.
    street_1 = text("streetDetail/addressGeneral") or " ".join(p for p in parts if p) or None
    street_2 = text("streetDetail/addressGeneral2") or text("streetDetail/suiteNumber")
    address = Address(
        street_1=street_1,
        street_2=street_2,
        city=text("townDetail/name"),
        state_or_province=text("townDetail/stateOrProvince"),
        postal_code=text("postalCode"),
        country=text("townDetail/country"),
    )
    return None if address == Address(None, None, None, None, None, None) else address


def _link(element: ET.Element, rel: str) -> str | None:
    return next(_links(element, rel), None)


def _links(element: ET.Element, rel: str) -> Iterator[str]:
    for link in element.findall(f"{_A}link"):
        href = (link.get("href") or "").strip()
        if link.get("rel", "alternate") == rel and href:
            yield href


def _declared_kind(element: ET.Element, self_link: str | None) -> str | None:
    """What the self link says the entry holds: its type, or else its path, when either says."""
    for link in element.findall(f"{_A}link"):
        if link.get("rel") == "self":
            match = _ENTRY_TYPE.fullmatch(link.get("type") or "")
            if match:
                return match.group(1)
    if self_link is not None:
        segments = _key(self_link).split("/")
        if len(segments) >= 2 and segments[-2] in _KNOWN_KINDS:
            return segments[-2]
    return None


def _is_xml_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "xml" or media.endswith(("/xml", "+xml"))


def _key(href: str) -> str:
    return href.strip().rstrip("/")


def _prefixes(href: str) -> Iterator[str]:
    """The href and its shorter forms, one path segment at a time, nearest first."""
    yield href
    # A parent sits one or two segments above an up link; stopping after a few keeps a
    # hostile href made of slashes from costing quadratic time.
    for _ in range(8):
        if "/" not in href:
            return
        href = href.rsplit("/", 1)[0]
        yield href


def _last_segment(href: str) -> str:
    return _key(href).rsplit("/", 1)[-1]


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _name(tag: str) -> str:
    namespace, local = _split_tag(tag)
    if namespace:
        return f"{_clip(local)} in namespace {_clip(namespace)}"
    return f"{_clip(local)} (no namespace)"


def _clip(text: str) -> str:
    """Text from the document, short enough that an error message stays readable in a log."""
    return text if len(text) <= 300 else f"{text[:300]}…"


def _path(namespace: str, path: str) -> str:
    return "/".join(f"{{{namespace}}}{step}" for step in path.split("/"))


def _child(resource: ET.Element, path: str) -> ET.Element | None:
    """A descendant in the resource's own namespace: ESPI or customer, whichever it is in."""
    namespace, _ = _split_tag(resource.tag)
    return resource.find(_path(namespace, path))


def _child_text(resource: ET.Element, path: str) -> str | None:
    return _text(_child(resource, path))


def _child_int(resource: ET.Element, path: str, where: str) -> int | None:
    text = _child_text(resource, path)
    if text is None:
        return None
    if not _INTEGER.fullmatch(text):
        raise EspiParseError(f"{where}: {path} is {_snippet(text)}, not an integer")
    return int(text)


def _required_int(resource: ET.Element, path: str, where: str) -> int:
    number = _child_int(resource, path, where)
    if number is None:
        raise EspiParseError(f"{where} has no {path}")
    return number


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _snippet(text: str | None) -> str:
    text = (text or "").strip()
    return repr(text if len(text) <= 40 else f"{text[:40]}…")
