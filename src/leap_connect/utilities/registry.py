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
    # How customers know the utility ("PG&E"), shown on every customer page with `name`; and the
    # colour of the simple mark of our own drawing that stands beside it (not the utility's logo).
    common_name: str = ""
    mark_color: str = "#57606a"

    @property
    def display_name(self) -> str:
        """ "Pacific Gas & Electric (PG&E)", or the name alone when customers use no other."""
        if not self.common_name or self.common_name == self.name:
            return self.name
        return f"{self.name} ({self.common_name})"

    @property
    def customer_name(self) -> str:
        """The name a customer uses in a sentence: "Connecting to PG&E"."""
        return self.common_name or self.name

    @property
    def mark_text(self) -> str:
        """The letters on the utility's mark: "PG&E", "CE" for Con Edison, "PSEG"."""
        known_as = self.common_name or self.name
        if len(known_as) <= 5:
            return known_as
        first = known_as.split()[0]
        return first if first.isupper() else "".join(word[0] for word in known_as.split())


UTILITIES: tuple[Utility, ...] = (
    Utility(
        "pge",
        "Pacific Gas & Electric",
        "PGE",
        "CAISO",
        Protocol.GREEN_BUTTON,
        common_name="PG&E",
        mark_color="#0b5394",
    ),
    Utility(
        "sce",
        "Southern California Edison",
        "SCE",
        "CAISO",
        Protocol.GREEN_BUTTON,
        common_name="SCE",
        mark_color="#8a4b00",
    ),
    Utility(
        "sdge",
        "San Diego Gas & Electric",
        "SDGE",
        "CAISO",
        Protocol.GREEN_BUTTON,
        common_name="SDG&E",
        mark_color="#116329",
    ),
    Utility(
        "cecony-utilityapi",
        "Consolidated Edison",
        "CECONY",
        "NYISO",
        Protocol.UTILITYAPI,
        common_name="Con Edison",
        mark_color="#1f4e79",
    ),
    Utility(
        "oru-utilityapi",
        "Orange and Rockland Utilities",
        "ORU",
        "NYISO",
        Protocol.UTILITYAPI,
        common_name="O&R",
        mark_color="#9a3412",
    ),
    Utility(
        "psegli-utilityapi",
        "PSEG Long Island",
        "PSEGLI",
        "NYISO",
        Protocol.UTILITYAPI,
        common_name="PSEG Long Island",
        mark_color="#5b2c83",
    ),
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
