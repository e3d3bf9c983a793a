"""The sandbox UtilityAPI's New York utilities and their test customers' accounts and meters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from leap_connect.sandbox.customers import (
    FLOW_RECEIVED,
    Classification,
    SandboxUsagePoint,
    ServiceAddress,
    known_customer,
)

# UtilityAPI reports interval times in the utility's own time zone; Eastern Standard Time here (a
# fixed offset spares us a time-zone database; a client converting to UTC handles any offset).
EASTERN = timezone(timedelta(hours=-5), "EST")


@dataclass(frozen=True, slots=True)
class SandboxUtility:
    """One New York utility as UtilityAPI names it (`code`, its `utility` field)."""

    code: str
    short_name: str
    full_name: str
    cities: tuple[tuple[str, str], ...]  # (city, ZIP code)
    residential_tariff: str
    commercial_tariffs: tuple[str, str, str]
    meter_prefix: str


SANDBOX_UTILITIES: dict[str, SandboxUtility] = {
    utility.code: utility
    for utility in (
        SandboxUtility(
            "CECONY",
            "Con Edison",
            "Consolidated Edison Company of New York",
            (
                ("New York", "10025"),
                ("Brooklyn", "11215"),
                ("Bronx", "10463"),
                ("Yonkers", "10701"),
            ),
            "EL1",
            ("EL9", "EL2", "EL9-TOD"),
            "7030",
        ),
        SandboxUtility(
            "ORU",
            "O&R",
            "Orange and Rockland Utilities",
            (("Spring Valley", "10977"), ("Nanuet", "10954"), ("Middletown", "10940")),
            "SC1",
            ("SC2", "SC9", "SC20"),
            "7011",
        ),
        SandboxUtility(
            "PSEGLI",
            "PSEG Long Island",
            "PSEG Long Island",
            (("Hicksville", "11801"), ("Huntington", "11743"), ("Riverhead", "11901")),
            "180",
            ("280", "281", "285"),
            "5120",
        ),
    )
}

# What each test customer does at the sandbox UtilityAPI (SANDBOX_CUSTOMERS holds who they are).
CUSTOMER_DESCRIPTIONS = {
    "residential": "one residential meter with a year of hourly readings",
    "commercial": "three commercial meters at two service addresses, 15-minute readings",
    "solar": "one net-metered home with rooftop solar, 15-minute net readings",
    "partial": "one meter, and shares a year of history instead of two",
    "utility-down": "the referral lookup fails with 503",
    "slow": "the referral lookup answers slowly",
}

_STREETS = ("Broadway", "Main St", "Maple Ave", "Park Ave", "Church St", "Elm St", "Hudson St")
_FIRST_NAMES = ("Alex", "Jordan", "Maria", "Sam", "Priya", "Chen", "Dana", "Luis", "Aisha")
_LAST_NAMES = ("Rivera", "Nguyen", "Patel", "Garcia", "Kim", "Johnson", "Okafor", "Shah")
_COMPANIES = ("Hudson Valley Bakery LLC", "Empire Cold Storage Inc.", "Harbor Office Partners")


@dataclass(frozen=True, slots=True)
class SandboxMeter:
    """One service at the utility: the same identifiers in every authorization of its account."""

    service_identifier: str
    meter_number: str
    service_class: str  # UtilityAPI's: "residential", "commercial", ...
    service_tariff: str
    service_address: str
    usage: SandboxUsagePoint  # only its readings are used


@dataclass(frozen=True, slots=True)
class SandboxAccount:
    utility: SandboxUtility
    username: str
    customer_name: str
    billing_account: str
    billing_address: str
    history_months: int
    meters: tuple[SandboxMeter, ...]


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(("utilityapi", *parts)).encode()).digest()


def _digits(count: int, *parts: str) -> str:
    """A number of `count` digits, never starting with 0, fixed by the parts."""
    value = int.from_bytes(_digest(*parts)[:8], "big")
    return str(10 ** (count - 1) + value % (9 * 10 ** (count - 1)))


def _choice(options: tuple[str, ...], *parts: str) -> str:
    return options[int.from_bytes(_digest(*parts)[:8], "big") % len(options)]


def _address(utility: SandboxUtility, *parts: str) -> ServiceAddress:
    city, postal_code = utility.cities[int(_digits(4, *parts, "city")) % len(utility.cities)]
    number = 10 + int(_digits(4, *parts, "number")) % 990
    return ServiceAddress(
        street=f"{number} {_choice(_STREETS, *parts, 'street')}",
        city=city,
        state="NY",
        postal_code=postal_code,
    )


@lru_cache(maxsize=4096)
def sandbox_account(utility_code: str, username: str) -> SandboxAccount:
    """A test customer's account at a New York utility: the same every time."""
    utility = SANDBOX_UTILITIES[utility_code]
    customer = known_customer(username)
    key = (utility_code, username)
    home = _address(utility, *key, "home")
    sites: tuple[tuple[ServiceAddress, str], ...]
    if customer.classification is Classification.COMMERCIAL:
        name = _choice(_COMPANIES, *key, "company")
        sites = (
            (home, utility.commercial_tariffs[0]),
            (home, utility.commercial_tariffs[1]),
            (_address(utility, *key, "second-site"), utility.commercial_tariffs[2]),
        )
    else:
        name = f"{_choice(_FIRST_NAMES, *key, 'first')} {_choice(_LAST_NAMES, *key, 'last')}"
        sites = ((home, utility.residential_tariff),)
    meters = tuple(
        _meter(utility, username, index, address, tariff, customer.classification, customer.solar)
        for index, (address, tariff) in enumerate(sites, start=1)
    )
    return SandboxAccount(
        utility=utility,
        username=username,
        customer_name=name,
        billing_account=_digits(12, *key, "account"),
        billing_address=home.one_line(),
        history_months=12 if username == "partial" else 24,
        meters=meters,
    )


def _meter(
    utility: SandboxUtility,
    username: str,
    index: int,
    address: ServiceAddress,
    tariff: str,
    classification: Classification,
    solar: bool = False,
) -> SandboxMeter:
    key = (utility.code, username, f"meter-{index}")
    residential = classification is Classification.RESIDENTIAL and not solar
    service_identifier = _digits(10, *key, "service")
    return SandboxMeter(
        service_identifier=service_identifier,
        meter_number=utility.meter_prefix + _digits(6, *key, "number"),
        service_class=classification.value,
        service_tariff=tariff,
        service_address=address.one_line(),
        usage=SandboxUsagePoint(
            usage_point_id=service_identifier,
            meter_reading_id=_digits(10, *key, "reading"),
            reading_type_id=_digits(8, *key, "reading-type"),
            meter_serial_number=utility.meter_prefix + _digits(6, *key, "number"),
            service_point_id=service_identifier,
            service_agreement_id=_digits(10, *key, "agreement"),
            tariff=tariff,
            title="Electric service",
            address=address,
            classification=classification,
            interval_seconds=3600 if residential else 900,
            power_of_ten_multiplier=0,
            peak_kw=(2.5 if residential or solar else 60.0) + index,
            seed=_digest(*key, "readings"),
            solar_kw=6.0 if solar else 0.0,
        ),
    )


def kwh_readings(
    meter: SandboxMeter, start: datetime, end: datetime
) -> list[tuple[int, int, float]]:
    """(start, end, net kWh) of every reading that starts in [start, end), in epoch seconds;
    negative when a home with solar exported more than it used."""
    interval = meter.usage.interval_seconds
    received = dict(meter.usage.readings(start, end, FLOW_RECEIVED))
    return [
        (moment, moment + interval, round((value - received.get(moment, 0)) / 1000, 4))
        for moment, value in meter.usage.readings(start, end)
    ]
