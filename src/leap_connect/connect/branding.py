"""The customer's error pages: the partner's brand when the address names it, plain words saying
what happened and what to do, and never a code, an ID or a field path.

Every page a customer reaches from a partner's link, the failures included, belongs to that
partner. An error found before the page knew its partner (a malformed session address, a server
error) finds it again here from the address: the organization a landing path names, or the one
that owns the connect session a session path names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse

from leap_connect.connect import repository
from leap_connect.kit.i18n import _
from leap_connect.kit.link_rules import RESERVED_NAMES, URL_NAME
from leap_connect.kit.pages import error_page, is_api_path
from leap_connect.models import Organization
from leap_connect.organizations import repository as organizations_repository
from leap_connect.utilities.registry import UTILITY_IDS

log = structlog.get_logger("leap_connect.connect")

_SESSION_PATH = re.compile(r"^/connect/sessions/([^/]+)")

# What must never reach a customer: UUIDs, Unicode code points, a validator's field paths and
# phrases, and our utility IDs ("pge", "cecony-utilityapi") in place of the names people know.
_NOT_FOR_CUSTOMERS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"|U\+[0-9A-Fa-f]{4}"
    r"|\b(?:path|query|body|header|cookie|form)\.\w"
    r"|Input should|Field required|[Vv]alid UUID"
    r"|(?<![\w-])(?:"
    + "|".join(re.escape(utility_id) for utility_id in UTILITY_IDS)
    + r")(?![\w-])"
)


def fit_for_customers(text: str) -> bool:
    """Whether a message is plain words a customer may read (no code, ID or field path)."""
    return _NOT_FOR_CUSTOMERS.search(text) is None


def is_customer_path(path: str) -> bool:
    """A journey page: a partner's link (`/{partner}/{flow}`, and paths under it) or a step
    under /connect."""
    if is_api_path(path):
        return False
    if path.startswith("/connect/"):
        return True
    segments = path.strip("/").split("/")
    return (
        len(segments) >= 2
        and segments[0] not in RESERVED_NAMES
        and bool(URL_NAME.match(segments[0]))
    )


@dataclass(frozen=True)
class PageOwner:
    """The partner a customer page belongs to, and, on a session's pages, what it offers."""

    organization: Organization
    offered_utility_ids: tuple[str, ...] = field(default_factory=tuple)


async def session_owner(
    sessionmaker: async_sessionmaker[AsyncSession], connect_session_id: uuid.UUID
) -> PageOwner | None:
    async with sessionmaker() as session:
        found = await repository.get_connect_session_with_flow(session, connect_session_id)
    if found is None:
        return None
    connect_session, flow, organization = found
    offered = connect_session.requested_utility_ids or flow.utility_ids
    return PageOwner(organization, tuple(offered))


async def owner_of_path(
    sessionmaker: async_sessionmaker[AsyncSession], path: str
) -> PageOwner | None:
    """The partner a customer path belongs to, if the address names one that exists."""
    try:
        if match := _SESSION_PATH.match(path):
            try:
                connect_session_id = uuid.UUID(match.group(1))
            except ValueError:
                return None
            return await session_owner(sessionmaker, connect_session_id)
        segments = path.strip("/").split("/")
        if len(segments) >= 2 and URL_NAME.match(segments[0]):
            async with sessionmaker() as session:
                organization = await organizations_repository.get_organization_by_name(
                    session, segments[0]
                )
            return PageOwner(organization) if organization is not None else None
    except Exception as error:  # the brand is a courtesy: an error page must never fail for it
        log.warning("error_page_brand_unavailable", error=type(error).__name__)
    return None


def customer_words(
    status: int, detail: str, *, type_slug: str | None, partner: str | None
) -> tuple[str, str]:
    """The title and message a customer reads for an error, in plain words, in their language."""
    sender = partner or _("the company that sent it to you")
    if type_slug == "bad-link":
        return (
            _("This link is not complete"),
            _(
                "The link you opened is missing a part or was changed on its way to you. "
                "Please open the link from %(partner)s again, exactly as you received it."
            )
            % {"partner": sender},
        )
    if status == 404:
        if detail and fit_for_customers(detail) and detail != "Not found":
            return _("We could not find this page"), _(detail)
        return (
            _("We could not find this page"),
            _(
                "This address is not complete or has changed. Please open the link from "
                "%(partner)s again, exactly as you received it."
            )
            % {"partner": sender},
        )
    if status == 429:
        return (
            _("Too many tries in a short time"),
            _(
                "To keep your account safe, we pause after many tries. "
                "Please wait a minute, then try again."
            ),
        )
    if status == 503:
        return (
            _("We are very busy right now"),
            _("Nothing you did caused this. Please wait a few seconds, then try again."),
        )
    if status >= 500:
        return (
            _("Something went wrong on our side"),
            _(
                "Nothing you did caused this, and we have been told about it. "
                "Please try again in a minute."
            ),
        )
    if detail and fit_for_customers(detail) and detail != "Bad request":
        return _("We could not do that"), _(detail)  # our own words, written for the customer
    return (
        _("We could not do that"),
        _("Something in this request was not as we expected. Please go back and try again."),
    )


def customer_error_page(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    organization: Organization | None,
    actions: Sequence[dict[str, Any]] = (),
    csrf_token: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The error page a customer sees, in the partner's brand when the partner is known."""
    return error_page(
        request,
        status,
        title,
        message,
        headers=headers,
        organization=organization,
        brand_color=organization.brand_color if organization else None,
        actions=list(actions),
        csrf_token=csrf_token,
        customer=True,
    )
