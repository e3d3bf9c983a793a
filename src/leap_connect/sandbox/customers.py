"""The sandbox utilities' test customers, their meters and their readings, the same every time."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

SANDBOX_PASSWORD = "sandbox"  # noqa: S105 - every test customer's published password

# Utilities publish yesterday's data: a year of history ending at the last UTC midnight.
HISTORY = timedelta(days=365)

# ESPI UnitSymbolKind 72: watt-hours.
UOM_WH = 72

# ESPI FlowDirectionKind: 1 forward (delivered to the customer), 19 reverse (received from it).
FLOW_DELIVERED = 1
FLOW_RECEIVED = 19

# Pacific Standard Time. The load shapes follow the local clock; DST moves them by an hour at most,
# which a fixed offset can ignore.
PACIFIC_UTC_OFFSET_SECONDS = -8 * 3600
# The custodians' local days, where their IntervalBlocks begin and end: by the time-zone
# database, not by the ESPI rules the client reads, so the two are checked against each other.
UTILITY_TIME_ZONE = ZoneInfo("America/Los_Angeles")

T = TypeVar("T")


class Classification(StrEnum):
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"


class Behaviour(StrEnum):
    NORMAL = "normal"
    PARTIAL_SCOPE = "partial_scope"
    UTILITY_DOWN = "utility_down"
    SLOW = "slow"


@dataclass(frozen=True, slots=True)
class SandboxCustomer:
    username: str
    classification: Classification
    behaviour: Behaviour
    description: str
    solar: bool = False
    """Net metered: rooftop solar, read in both directions."""


SANDBOX_CUSTOMERS: dict[str, SandboxCustomer] = {
    customer.username: customer
    for customer in (
        SandboxCustomer(
            "residential",
            Classification.RESIDENTIAL,
            Behaviour.NORMAL,
            "one residential meter with a year of hourly readings",
        ),
        SandboxCustomer(
            "commercial",
            Classification.COMMERCIAL,
            Behaviour.NORMAL,
            "three commercial meters at two service addresses, 15-minute readings",
        ),
        SandboxCustomer(
            "solar",
            Classification.RESIDENTIAL,
            Behaviour.NORMAL,
            "one net-metered home with rooftop solar: 15-minute readings of energy delivered "
            "and received",
            solar=True,
        ),
        SandboxCustomer(
            "partial",
            Classification.RESIDENTIAL,
            Behaviour.PARTIAL_SCOPE,
            "grants a smaller scope than requested",
        ),
        SandboxCustomer(
            "utility-down",
            Classification.RESIDENTIAL,
            Behaviour.UTILITY_DOWN,
            "the token exchange fails with 503",
        ),
        SandboxCustomer(
            "slow", Classification.RESIDENTIAL, Behaviour.SLOW, "the token exchange answers slowly"
        ),
    )
}


# "residential+anything": the residential test customer's behaviour with an account and meters of
# its own, so load tests and benchmarks can sign in as thousands of different customers.
_TAGGED = re.compile(r"^(?P<base>[a-z-]+)\+(?P<tag>[A-Za-z0-9._-]{1,64})$")


def sandbox_customer(username: str) -> SandboxCustomer | None:
    """The test customer signing in as `username`, a published one or one tagged with `+tag`."""
    customer = SANDBOX_CUSTOMERS.get(username)
    if customer is not None:
        return customer
    tagged = _TAGGED.match(username)
    base = SANDBOX_CUSTOMERS.get(tagged.group("base")) if tagged else None
    if base is None:
        return None
    return replace(base, username=username)


def known_customer(username: str) -> SandboxCustomer:
    customer = sandbox_customer(username)
    if customer is None:
        raise KeyError(username)
    return customer


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    street: str
    city: str
    state: str
    postal_code: str

    def one_line(self) -> str:
        return f"{self.street}, {self.city}, {self.state} {self.postal_code}"


@dataclass(frozen=True, slots=True)
class IntervalBlockData:
    """Readings of one calendar month (UTC) that fall in the requested window."""

    block_id: str
    start: int
    duration: int
    interval_seconds: int
    readings: list[tuple[int, int]]  # (start, value) in epoch seconds and ReadingType units
    meter_reading_id: str = ""
    """The MeterReading (series) the block belongs to; empty for the usage point's delivered."""


@dataclass(frozen=True, slots=True)
class SandboxMeterReading:
    """One series of a usage point: its MeterReading and ReadingType, and its flow direction."""

    meter_reading_id: str
    reading_type_id: str
    flow_direction: int
    title: str


@dataclass(frozen=True, slots=True)
class SandboxUsagePoint:
    usage_point_id: str
    meter_reading_id: str
    reading_type_id: str
    meter_serial_number: str
    service_point_id: str
    service_agreement_id: str
    tariff: str
    title: str
    address: ServiceAddress
    classification: Classification
    interval_seconds: int
    power_of_ten_multiplier: int
    peak_kw: float
    seed: bytes
    solar_kw: float = 0.0
    """Rooftop solar's peak output; above 0 the meter is read in both directions."""
    received_meter_reading_id: str = ""
    received_reading_type_id: str = ""

    @property
    def uom(self) -> int:
        return UOM_WH

    @property
    def meter_readings(self) -> tuple[SandboxMeterReading, ...]:
        delivered = SandboxMeterReading(
            self.meter_reading_id, self.reading_type_id, FLOW_DELIVERED, "Electricity consumption"
        )
        if self.solar_kw <= 0:
            return (delivered,)
        received = SandboxMeterReading(
            self.received_meter_reading_id,
            self.received_reading_type_id,
            FLOW_RECEIVED,
            "Electricity received from the customer",
        )
        return (delivered, received)

    def meter_reading(self, meter_reading_id: str) -> SandboxMeterReading | None:
        return next(
            (r for r in self.meter_readings if r.meter_reading_id == meter_reading_id), None
        )

    def readings(
        self, start: datetime, end: datetime, flow_direction: int = FLOW_DELIVERED
    ) -> list[tuple[int, int]]:
        """Every reading of one direction whose interval starts in [start, end), oldest first."""
        first, last = int(start.timestamp()), int(end.timestamp())
        interval = self.interval_seconds
        first = -(-first // interval) * interval
        readings: list[tuple[int, int]] = []
        for day in range(first // 86400, (last - 1) // 86400 + 1):
            day_start = day * 86400
            delivered, received = self._day_values(day)
            values = received if flow_direction == FLOW_RECEIVED else delivered
            for index, value in enumerate(values):
                moment = day_start + index * interval
                if first <= moment < last:
                    readings.append((moment, value))
        return readings

    def interval_blocks(self, start: datetime, end: datetime) -> list[IntervalBlockData]:
        """One block per series and local day (the utility's, DST and all) lying wholly inside
        [start, end): a custodian cuts its blocks at local midnights and, as OpenESPI does,
        returns only the blocks wholly inside the window asked for."""
        blocks: list[IntervalBlockData] = []
        day = start.astimezone(UTILITY_TIME_ZONE).date()
        while (begins := local_midnight(day)) < end:
            ends = local_midnight(day + timedelta(days=1))
            if start <= begins and ends <= end:
                for meter_reading in self.meter_readings:
                    readings = self.readings(begins, ends, meter_reading.flow_direction)
                    blocks.append(
                        IntervalBlockData(
                            block_id=f"{day:%Y%m%d}",
                            start=int(begins.timestamp()),
                            duration=int((ends - begins).total_seconds()),
                            interval_seconds=self.interval_seconds,
                            readings=readings,
                            meter_reading_id=meter_reading.meter_reading_id,
                        )
                    )
            day += timedelta(days=1)
        # Grouped by series, each oldest first, as a MeterReading's blocks are listed.
        order = {r.meter_reading_id: i for i, r in enumerate(self.meter_readings)}
        return sorted(blocks, key=lambda block: (order[block.meter_reading_id], block.start))

    def _day_values(self, day: int) -> tuple[list[int], list[int]]:
        """One UTC day of readings, delivered and received. Seeded by the meter and the day, so a
        reading never changes."""
        # random.Random's sequence for an integer seed is stable across Python versions (a
        # documented guarantee), and the seed comes from a hash: the same meter and day always give
        # the same readings, in any process, whatever window was asked for.
        seed = hashlib.blake2b(self.seed + day.to_bytes(8, "big", signed=True), digest_size=8)
        noise = random.Random(int.from_bytes(seed.digest(), "big"))  # noqa: S311 - not a secret
        # The sky has its own draw, so a home's load is the same with or without panels.
        sky = random.Random(int.from_bytes(seed.digest(), "big") ^ 0x5A5A)  # noqa: S311
        interval = self.interval_seconds
        to_units = 1000 * (interval / 3600) * 10 ** (-self.power_of_ten_multiplier)
        shape = (
            _residential_kw if self.classification is Classification.RESIDENTIAL else _commercial_kw
        )
        clearness = 0.55 + 0.45 * sky.random()  # one weather for the whole day
        delivered, received = [], []
        for index in range(86400 // interval):
            # The load at the middle of the interval, on the local clock.
            local = day * 86400 + index * interval + interval / 2 + PACIFIC_UTC_OFFSET_SECONDS
            local_day = math.floor(local / 86400)
            hour = (local - local_day * 86400) / 3600
            year_phase = (local / 86400 / 365.2425) % 1.0
            # 1970-01-01 was a Thursday: day 0 has weekday 3 (Monday = 0).
            weekend = (local_day + 3) % 7 >= 5
            kw = shape(hour, year_phase, weekend) * self.peak_kw * (0.88 + 0.24 * noise.random())
            if self.solar_kw > 0:
                kw -= self.solar_kw * _solar_output(hour, year_phase) * clearness
            delivered.append(round(max(kw, 0.0) * to_units))
            received.append(round(max(-kw, 0.0) * to_units))
        return delivered, received


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    utility_id: str
    username: str
    classification: Classification
    retail_customer_id: str
    customer_name: str
    account_number: str
    mailing_address: ServiceAddress
    usage_points: tuple[SandboxUsagePoint, ...]

    def usage_point(self, usage_point_id: str) -> SandboxUsagePoint | None:
        return next((p for p in self.usage_points if p.usage_point_id == usage_point_id), None)


def local_midnight(day: date) -> datetime:
    """The start of a local day of the custodians, in UTC."""
    return datetime.combine(day, time(), tzinfo=UTILITY_TIME_ZONE).astimezone(UTC)


def data_window(now: datetime) -> tuple[datetime, datetime]:
    """The history a custodian publishes at `now`: the 365 days before the last UTC midnight."""
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - HISTORY, end


# --- load shapes: kW as a fraction of the meter's peak ---------------------------------------


def _bump(hour: float, centre: float, width: float) -> float:
    distance = abs(hour - centre)
    distance = min(distance, 24 - distance)
    return math.exp(-0.5 * (distance / width) ** 2)


def _season(year_phase: float, peak_phase: float) -> float:
    return max(0.0, math.cos(2 * math.pi * (year_phase - peak_phase)))


def _residential_kw(hour: float, year_phase: float, weekend: bool) -> float:
    summer = _season(year_phase, 0.56)  # late July: air conditioning in the afternoon
    winter = _season(year_phase, 0.04)  # mid January: heating mornings and evenings
    load = (
        0.12
        + 0.2 * _bump(hour, 7.5, 1.4)
        + 0.45 * _bump(hour, 19.0, 2.2)
        + 0.55 * summer * _bump(hour, 17.0, 3.0)
        + 0.16 * winter * (_bump(hour, 7.0, 1.8) + _bump(hour, 20.0, 2.5))
    )
    if weekend:
        load += 0.12 * _bump(hour, 13.0, 3.0)
    return load


def _commercial_kw(hour: float, year_phase: float, weekend: bool) -> float:
    summer = _season(year_phase, 0.56)
    occupied = (
        0.0 if weekend else 1 / (1 + math.exp(-2 * (hour - 7))) / (1 + math.exp(2 * (hour - 18.5)))
    )
    return 0.22 + 0.55 * occupied + 0.2 * summer * _bump(hour, 15.0, 3.0) * (0.3 if weekend else 1)


def _solar_output(hour: float, year_phase: float) -> float:
    """Rooftop solar as a fraction of its peak: daylight around solar noon, longer in summer."""
    half_day = 6.0 + 1.6 * math.cos(2 * math.pi * (year_phase - 0.47))
    angle = (hour - (12.0 - half_day)) / (2 * half_day)
    if not 0.0 < angle < 1.0:
        return 0.0
    return float(math.sin(math.pi * angle) ** 1.5) * (0.75 + 0.25 * _season(year_phase, 0.47))


# --- stable identities ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Flavour:
    """What makes one sandbox utility's customers look like that utility's."""

    cities: tuple[tuple[str, str], ...]  # (city, first three digits of its ZIP codes)
    residential_tariff: str
    commercial_tariffs: tuple[str, str, str]
    meter_prefix: str


_FLAVOURS: dict[str, _Flavour] = {
    "pge": _Flavour(
        (("San Francisco", "941"), ("Oakland", "946"), ("San Jose", "951"), ("Fresno", "937")),
        "E-TOU-C",
        ("B-19", "B-10", "B-6"),
        "1010",
    ),
    "sce": _Flavour(
        (("Irvine", "926"), ("Long Beach", "908"), ("Pasadena", "911"), ("Santa Ana", "927")),
        "TOU-D-4-9PM",
        ("TOU-GS-2-E", "TOU-GS-3-D", "TOU-GS-1-E"),
        "2250",
    ),
    "sdge": _Flavour(
        (("San Diego", "921"), ("Chula Vista", "919"), ("Escondido", "920"), ("Oceanside", "920")),
        "TOU-DR1",
        ("AL-TOU", "TOU-A", "A6-TOU"),
        "0640",
    ),
}

SUPPORTED_UTILITY_IDS: tuple[str, ...] = tuple(_FLAVOURS)

_STREETS = (
    "Oak St", "Mission St", "Park Ave", "Lincoln Blvd", "Harbor Dr", "Elm St",
    "Sunset Blvd", "Canyon Rd", "Palm Ave", "Vista Way", "Main St", "Cedar Ln",
)  # fmt: skip
_FIRST_NAMES = ("Alex", "Jordan", "Maria", "Sam", "Priya", "Chen", "Dana", "Luis", "Aisha", "Noah")
_LAST_NAMES = ("Rivera", "Nguyen", "Patel", "Garcia", "Kim", "Johnson", "Lopez", "Okafor", "Shah")
_COMPANIES = (
    "Pacific Crest Logistics LLC", "Golden Gate Bakery Co.", "Sierra Office Partners",
    "Bayview Cold Storage Inc.", "Coastline Dental Group",
)  # fmt: skip


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _digits(count: int, *parts: str) -> str:
    """A number of `count` digits, never starting with 0, fixed by the parts."""
    value = int.from_bytes(_digest(*parts)[:8], "big")
    return str(10 ** (count - 1) + value % (9 * 10 ** (count - 1)))


def _pick(options: Sequence[T], *parts: str) -> T:
    return options[int.from_bytes(_digest(*parts)[:8], "big") % len(options)]


def _fraction(*parts: str) -> float:
    return int.from_bytes(_digest(*parts)[:8], "big") / 2**64


def _address(flavour: _Flavour, *parts: str) -> ServiceAddress:
    city, zip_prefix = _pick(flavour.cities, *parts, "city")
    number = 100 + int(_digits(4, *parts, "number")) % 9800
    return ServiceAddress(
        street=f"{number} {_pick(_STREETS, *parts, 'street')}",
        city=city,
        state="CA",
        postal_code=zip_prefix + _digits(2, *parts, "zip"),
    )


def _usage_point(
    utility_id: str,
    username: str,
    index: int,
    *,
    flavour: _Flavour,
    classification: Classification,
    address: ServiceAddress,
    title: str,
    tariff: str,
    peak_kw: float,
    solar: bool = False,
) -> SandboxUsagePoint:
    key = (utility_id, username, f"usage-point-{index}")
    residential = classification is Classification.RESIDENTIAL
    quarter_hours = solar or not residential
    return SandboxUsagePoint(
        usage_point_id=_digits(10, *key, "id"),
        meter_reading_id=_digits(10, *key, "meter-reading"),
        reading_type_id=_digits(8, *key, "reading-type"),
        meter_serial_number=flavour.meter_prefix + _digits(6, *key, "serial"),
        service_point_id=_digits(10, *key, "service-point"),
        service_agreement_id=_digits(10, *key, "service-agreement"),
        tariff=tariff,
        title=title,
        address=address,
        classification=classification,
        # Residential readings in mWh (multiplier -3, as some custodians publish), so a client
        # that ignores powerOfTenMultiplier is caught; 15-minute readings (commercial, solar) in
        # plain Wh, which also keeps a year of three commercial meters' readings under 20 MB.
        interval_seconds=900 if quarter_hours else 3600,
        power_of_ten_multiplier=0 if quarter_hours else -3,
        peak_kw=peak_kw,
        seed=_digest(*key, "readings"),
        solar_kw=(4.0 + 4.0 * _fraction(*key, "solar")) if solar else 0.0,
        received_meter_reading_id=_digits(10, *key, "received-meter-reading") if solar else "",
        received_reading_type_id=_digits(8, *key, "received-reading-type") if solar else "",
    )


@lru_cache(maxsize=4096)
def customer_profile(utility_id: str, username: str) -> CustomerProfile:
    """The customer's account at the utility: the same IDs, addresses and meters every time."""
    flavour = _FLAVOURS[utility_id]
    customer = known_customer(username)
    key = (utility_id, username)
    home = _address(flavour, *key, "home")
    if customer.classification is Classification.RESIDENTIAL:
        name = f"{_pick(_FIRST_NAMES, *key, 'first')} {_pick(_LAST_NAMES, *key, 'last')}"
        points: tuple[SandboxUsagePoint, ...] = (
            _usage_point(
                utility_id,
                username,
                1,
                flavour=flavour,
                classification=customer.classification,
                address=home,
                title="Home electric service",
                tariff=flavour.residential_tariff,
                peak_kw=1.7 + 1.1 * _fraction(*key, "size"),
                solar=customer.solar,
            ),
        )
        mailing = home
    else:
        name = _pick(_COMPANIES, *key, "company")
        second_site = _address(flavour, *key, "second-site")
        sites = (
            (home, "Main building electric service"),
            (home, "Warehouse electric service"),
            (second_site, "Store electric service"),
        )
        points = tuple(
            _usage_point(
                utility_id,
                username,
                index,
                flavour=flavour,
                classification=customer.classification,
                address=address,
                title=title,
                tariff=flavour.commercial_tariffs[index - 1],
                peak_kw=40.0 + 110.0 * _fraction(*key, f"size-{index}"),
            )
            for index, (address, title) in enumerate(sites, start=1)
        )
        mailing = home
    return CustomerProfile(
        utility_id=utility_id,
        username=username,
        classification=customer.classification,
        retail_customer_id=_digits(9, *key, "retail-customer"),
        customer_name=name,
        account_number=f"{_digits(10, *key, 'account')}-{_digits(1, *key, 'check')}",
        mailing_address=mailing,
        usage_points=points,
    )
