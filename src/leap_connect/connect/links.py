"""Connect link rules as pure functions: read `requestedUtilities` and `refId`, and build a link."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from leap_connect.kit.i18n import _
from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.utilities.registry import UTILITIES_BY_ID, UTILITY_IDS


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


def customer_link_problem(
    requested_values: Sequence[str], *, offered: Sequence[str], partner: str
) -> tuple[str, str]:
    """A bad link's title and message for the customer who opened it: what to do, in plain words,
    never the parameter, the value or the rule it broke (those are for the partner)."""
    try:
        parse_requested_utilities(requested_values, offered=offered)
    except LinkError:
        return (
            _("This link names a utility we cannot connect here"),
            _(
                "The link you opened asks for a utility that %(partner)s does not offer on this "
                "page. Please ask %(partner)s for a new link."
            )
            % {"partner": partner},
        )
    return (
        _("This link is not complete"),
        _(
            "The link you opened is missing a part or was changed on its way to you. "
            "Please open the link from %(partner)s again, exactly as you received it."
        )
        % {"partner": partner},
    )
