"""Connect link rules as pure functions: parse and validate `requestedUtilities` and `refId`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.convertors import StringConvertor

from leap_connect.organizations.service import RESERVED_NAMES, URL_NAME
from leap_connect.utilities.registry import UTILITIES_BY_ID, UTILITY_IDS

REF_ID_MAX_LENGTH = 255


class LinkError(ValueError):
    """A link parameter is wrong; the message says what, in words a person can act on."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# For routing: path segments that can name a flow, and an organization. With them the landing page's
# route can be tried before the app's other routes, since it cannot take their paths.
_URL_NAME = URL_NAME.pattern.removeprefix("^").removesuffix("$")
_RESERVED = "|".join(re.escape(name) for name in sorted(RESERVED_NAMES))


class FlowNameConvertor(StringConvertor):
    regex = _URL_NAME


class PartnerNameConvertor(StringConvertor):
    regex = f"(?!(?:{_RESERVED})/){_URL_NAME}"


@dataclass(frozen=True, slots=True)
class LinkRequest:
    requested_utilities: tuple[str, ...]  # what the customer may connect
    named_utilities: tuple[str, ...]  # what the link itself names (none: all the flow offers)
    ref_id: str | None


def parse_requested_utilities(values: Iterable[str], *, offered: Sequence[str]) -> tuple[str, ...]:
    """Comma-separated or repeated IDs, trimmed, case-insensitive, deduplicated, in given order.

    Nothing requested means every utility the flow offers.
    """
    requested: list[str] = []
    for value in values:
        for part in value.split(","):
            utility_id = part.strip().lower()
            if utility_id and utility_id not in requested:
                requested.append(utility_id)
    if not requested:
        return tuple(offered)
    unknown = [utility_id for utility_id in requested if utility_id not in UTILITIES_BY_ID]
    if unknown:
        raise LinkError(
            "requestedUtilities",
            f"{_plural('Unknown utility ID', unknown)} {_quoted(unknown)}. "
            f"Supported utility IDs: {', '.join(UTILITY_IDS)}.",
        )
    not_offered = [utility_id for utility_id in requested if utility_id not in offered]
    if not_offered:
        raise LinkError(
            "requestedUtilities",
            f"This link asks for {_quoted(not_offered)}, which this flow does not offer. "
            f"It offers: {', '.join(offered)}.",
        )
    return tuple(requested)


def utilities_named_in_link(values: Sequence[str], *, offered: Sequence[str]) -> tuple[str, ...]:
    """The utilities a new link names, checked like `requestedUtilities`; none when `values` name
    none, so the link asks, when opened, for whatever the flow offers then."""
    requested = parse_requested_utilities(values, offered=offered)
    return requested if _names_any(values) else ()


def parse_ref_id(value: str | None) -> str | None:
    """A Reference ID is 1–255 printable US-ASCII characters; absent or empty means none."""
    if value is None or value == "":
        return None
    if len(value) > REF_ID_MAX_LENGTH:
        raise LinkError(
            "refId",
            f"refId is {len(value)} characters long; the limit is {REF_ID_MAX_LENGTH}.",
        )
    for position, character in enumerate(value, start=1):
        if not " " <= character <= "~":
            raise LinkError(
                "refId",
                f"refId may contain only printable ASCII characters; character {position} "
                f"is {_describe(character)}.",
            )
    return value


def parse_link(
    requested_utilities: Iterable[str], ref_ids: Sequence[str], *, offered: Sequence[str]
) -> LinkRequest:
    if len(ref_ids) > 1:
        raise LinkError("refId", "refId is given more than once; a link carries one Reference ID.")
    requested = parse_requested_utilities(requested_utilities, offered=offered)
    named = requested if _names_any(requested_utilities) else ()
    return LinkRequest(
        requested_utilities=requested,
        named_utilities=named,
        ref_id=parse_ref_id(ref_ids[0] if ref_ids else None),
    )


def build_link(
    base_url: str,
    org_name: str,
    url_friendly_title: str,
    *,
    requested_utilities: Sequence[str] = (),
    ref_id: str | None = None,
) -> str:
    query: dict[str, str] = {}
    if requested_utilities:
        query["requestedUtilities"] = ",".join(requested_utilities)
    if ref_id:
        query["refId"] = ref_id
    path = f"{base_url.rstrip('/')}/{quote(org_name, safe='')}/{quote(url_friendly_title, safe='')}"
    return f"{path}?{urlencode(query, quote_via=quote, safe=',')}" if query else path


def _names_any(values: Iterable[str]) -> bool:
    return any(value.strip(" ,") for value in values)


def _plural(noun: str, items: Sequence[str]) -> str:
    return noun if len(items) == 1 else f"{noun}s"


def _quoted(items: Sequence[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _describe(character: str) -> str:
    code = ord(character)
    if code < 0x20 or code == 0x7F:
        return f"a control character (U+{code:04X})"
    return f'"{character}" (U+{code:04X}), which is not ASCII'
