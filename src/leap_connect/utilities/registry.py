"""The supported utilities: the one table every other part of Leap Connect reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Protocol(StrEnum):
    GREEN_BUTTON = "green_button"
    UTILITYAPI = "utilityapi"


@dataclass(frozen=True, slots=True)
class Utility:
    utility_id: str
    name: str
    short_name: str
    transmission_region: str
    protocol: Protocol


UTILITIES: tuple[Utility, ...] = (
    Utility("pge", "Pacific Gas & Electric", "PGE", "CAISO", Protocol.GREEN_BUTTON),
    Utility("sce", "Southern California Edison", "SCE", "CAISO", Protocol.GREEN_BUTTON),
    Utility("sdge", "San Diego Gas & Electric", "SDGE", "CAISO", Protocol.GREEN_BUTTON),
    Utility("cecony-utilityapi", "Consolidated Edison", "CECONY", "NYISO", Protocol.UTILITYAPI),
    Utility("oru-utilityapi", "Orange and Rockland Utilities", "ORU", "NYISO", Protocol.UTILITYAPI),
    Utility("psegli-utilityapi", "PSEG Long Island", "PSEGLI", "NYISO", Protocol.UTILITYAPI),
)

UTILITIES_BY_ID: dict[str, Utility] = {utility.utility_id: utility for utility in UTILITIES}
UTILITY_IDS: tuple[str, ...] = tuple(UTILITIES_BY_ID)
TRANSMISSION_REGIONS: tuple[str, ...] = tuple(
    dict.fromkeys(u.transmission_region for u in UTILITIES)
)


def get_utility(utility_id: str) -> Utility | None:
    return UTILITIES_BY_ID.get(utility_id)


def utilities_in_region(region: str) -> tuple[Utility, ...]:
    return tuple(u for u in UTILITIES if u.transmission_region == region)
