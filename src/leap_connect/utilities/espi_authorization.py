"""Read an ESPI `Authorization` resource: whether a grant stands, and until when.

Pure, like `espi.py`: bytes in, a frozen dataclass out, or `EspiParseError`. ESPI's
`AuthorizationStatus` is 0 revoked, 1 active, 2 denied; `authorizedPeriod` is how long the
customer's permission lasts (start and duration in epoch seconds, a zero duration meaning no end).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from leap_connect.utilities.espi import ESPI, EspiParseError

ACTIVE = 1


@dataclass(frozen=True, slots=True)
class EspiAuthorization:
    status: int
    authorized_start: datetime | None
    authorized_end: datetime | None  # None: no end
    published_start: datetime | None
    published_end: datetime | None
    scope: str | None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def parse_authorization(data: bytes) -> EspiAuthorization:
    """The first Authorization in an Atom entry or feed."""
    try:
        root = DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (DefusedXmlException, ET.ParseError) as error:
        raise EspiParseError(f"the Authorization is not well-formed XML: {error}") from None
    found = (
        root if root.tag == f"{{{ESPI}}}Authorization" else root.find(f".//{{{ESPI}}}Authorization")
    )
    if found is None:
        raise EspiParseError("the document holds no espi:Authorization")
    status = _int(found, "status")
    if status is None:
        raise EspiParseError("the Authorization has no status")
    authorized_start, authorized_end = _period(found, "authorizedPeriod")
    published_start, published_end = _period(found, "publishedPeriod")
    scope = found.findtext(f"{{{ESPI}}}scope")
    return EspiAuthorization(
        status=status,
        authorized_start=authorized_start,
        authorized_end=authorized_end,
        published_start=published_start,
        published_end=published_end,
        scope=scope.strip() if scope and scope.strip() else None,
    )


def _int(element: ET.Element, name: str) -> int | None:
    text = element.findtext(f"{{{ESPI}}}{name}")
    if text is None or not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise EspiParseError(f"the Authorization's {name} is not a number: {text[:40]!r}") from None


def _period(element: ET.Element, name: str) -> tuple[datetime | None, datetime | None]:
    period = element.find(f"{{{ESPI}}}{name}")
    if period is None:
        return None, None
    start, duration = _int(period, "start"), _int(period, "duration")
    try:
        begins = datetime.fromtimestamp(start, UTC) if start is not None else None
        ends = begins + timedelta(seconds=duration) if begins is not None and duration else None
    except (OverflowError, OSError, ValueError):
        raise EspiParseError(f"the Authorization's {name} is not a real period") from None
    return begins, ends
