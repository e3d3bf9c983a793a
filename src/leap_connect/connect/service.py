"""The journey's rules: read a link, open a session, show where it stands, finish it.

The utility step, sending the customer to a utility and taking them back, is `authorizations.py`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import events, repository, terms
from leap_connect.connect.links import parse_link
from leap_connect.esign import service as esign
from leap_connect.kit.crypto import Encryptor, keyed_hash, sign
from leap_connect.kit.link_rules import LinkError
from leap_connect.kit.problems import LeapConnectError, NotFound
from leap_connect.kit.text import text_problem
from leap_connect.meters import repository as meters_repository
from leap_connect.models import (
    ConnectFlow,
    ConnectSession,
    Organization,
    UtilityAuthorization,
    utc_now,
)
from leap_connect.organizations import repository as organizations_repository
from leap_connect.organizations.service import EMAIL
from leap_connect.utilities.registry import UTILITIES_BY_ID, Utility

STATE_LIFETIME = timedelta(minutes=15)
OPEN_STATUSES = ("CREATED", "UPDATED")
MAX_NAME_LENGTH = 200


class BadLink(LeapConnectError):
    title = "This link is not valid"
    type_slug = "bad-link"


class JourneyRefused(LeapConnectError):
    title = "We could not do that"
    type_slug = "journey-refused"


@dataclass(frozen=True)
class Landing:
    organization: Organization
    flow: ConnectFlow
    requested_utilities: tuple[str, ...]
    ref_id: str | None
    terms_customer_types: tuple[str, ...] = ()  # the customer types that sign additional terms

    @property
    def available_utilities(self) -> tuple[Utility, ...]:
        ids = self.requested_utilities or tuple(self.flow.utility_ids)
        return tuple(UTILITIES_BY_ID[utility_id] for utility_id in ids)


@dataclass(frozen=True)
class CustomerDetails:
    customer_type: str
    customer_name: str
    customer_email: str
    company_name: str | None


class CustomerFormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class LinkTarget:
    """What a Connect link's path names: the partner, its flow, and who signs additional terms."""

    organization: Organization
    flow: ConnectFlow
    terms_customer_types: tuple[str, ...]


async def find_link_target(
    session: AsyncSession, *, org_name: str, url_friendly_title: str
) -> LinkTarget:
    organization = await organizations_repository.get_organization_by_name(session, org_name)
    if organization is None:
        raise NotFound("We could not find this partner. Please check the link you were given.")
    flow = await repository.get_flow(session, organization.id, url_friendly_title)
    if flow is None or not flow.enabled:
        raise NotFound(
            f"{organization.display_name} has no sign-up page at this address. "
            "Please check the link you were given."
        )
    terms_customer_types = await esign.customer_types_with_terms(session, flow.id)
    return LinkTarget(organization, flow, terms_customer_types)


async def utility_start_url(
    session: AsyncSession, *, org_name: str, url_friendly_title: str, utility_id: str
) -> str:
    """The landing page for a customer the utility sent to the flow (a journey begun at the
    utility's site): the same link, asking for that utility."""
    target = await find_link_target(
        session, org_name=org_name, url_friendly_title=url_friendly_title
    )
    utility = UTILITIES_BY_ID.get(utility_id)
    if utility is None or utility_id not in target.flow.utility_ids:
        raise NotFound(
            f"{target.organization.display_name} does not connect this utility here. "
            "Please check the link you were given."
        )
    query = urlencode({"requestedUtilities": utility_id})
    return f"/{target.organization.name}/{target.flow.url_friendly_title}?{query}"


def landing_for(
    target: LinkTarget, *, requested_values: Sequence[str], ref_values: Sequence[str]
) -> Landing:
    """Check the link's query against its flow; reads nothing, writes nothing."""
    try:
        link = parse_link(requested_values, ref_values, offered=target.flow.utility_ids)
    except LinkError as error:
        raise BadLink(error.message) from None
    return Landing(
        target.organization,
        target.flow,
        link.named_utilities,
        link.ref_id,
        target.terms_customer_types,
    )


async def resolve_landing(
    session: AsyncSession,
    *,
    org_name: str,
    url_friendly_title: str,
    requested_values: Sequence[str],
    ref_values: Sequence[str],
) -> Landing:
    """Validate a Connect link; reads only, because link scanners open links before people do."""
    target = await find_link_target(
        session, org_name=org_name, url_friendly_title=url_friendly_title
    )
    return landing_for(target, requested_values=requested_values, ref_values=ref_values)


def read_customer_form(flow: ConnectFlow, form: Mapping[str, str]) -> CustomerDetails:
    errors: dict[str, str] = {}
    customer_type = form.get("customer_type", "").strip().lower()
    if len(flow.customer_types) == 1:
        customer_type = flow.customer_types[0]
    elif customer_type not in flow.customer_types:
        errors["customer_type"] = "Choose whether this is a home or a business."
    name = form.get("customer_name", "").strip()
    if not name:
        errors["customer_name"] = "Enter your full name."
    elif len(name) > MAX_NAME_LENGTH:
        errors["customer_name"] = f"Your name can be at most {MAX_NAME_LENGTH} characters."
    elif problem := text_problem(name, "Your name", name=True):
        errors["customer_name"] = problem
    email = form.get("customer_email", "").strip()
    if not EMAIL.match(email) or len(email) > 320 or text_problem(email):
        errors["customer_email"] = "Enter an e-mail address like name@example.com."
    company = form.get("company_name", "").strip() or None
    if customer_type == "commercial" and not company:
        errors["company_name"] = "Enter your company's name."
    elif company and len(company) > MAX_NAME_LENGTH:
        errors["company_name"] = f"The company name can be at most {MAX_NAME_LENGTH} characters."
    elif company and (problem := text_problem(company, "The company name", name=True)):
        errors["company_name"] = problem
    if errors:
        raise CustomerFormInvalid(errors)
    return CustomerDetails(
        customer_type=customer_type,
        customer_name=name,
        customer_email=email,
        company_name=company if customer_type == "commercial" else None,
    )


def browser_binding(secret_key: str, browser_id: str) -> str:
    return keyed_hash(secret_key, f"browser:{browser_id}")


async def open_connect_session(
    session: AsyncSession, *, landing: Landing, binding: str, details: CustomerDetails
) -> ConnectSession:
    """The browser's open session for this link, or a new one (the first POST creates it)."""
    existing = await repository.find_open_connect_session(
        session,
        flow_id=landing.flow.id,
        browser_binding_hmac=binding,
        partner_reference=landing.ref_id,
    )
    now = utc_now()
    if existing is not None:
        existing.customer_type = details.customer_type
        existing.customer_name = details.customer_name
        existing.customer_email = details.customer_email
        existing.company_name = details.company_name
        existing.requested_utility_ids = list(landing.requested_utilities)
        existing.last_interaction_at = now
        return existing
    connect_session = ConnectSession(
        organization_id=landing.organization.id,
        flow_id=landing.flow.id,
        partner_reference=landing.ref_id,
        requested_utility_ids=list(landing.requested_utilities),
        customer_type=details.customer_type,
        customer_name=details.customer_name,
        customer_email=details.customer_email,
        company_name=details.company_name,
        status="CREATED",
        browser_binding_hmac=binding,
        last_interaction_at=now,
    )
    session.add(connect_session)
    await events.session_updated(session, connect_session)
    return connect_session


def grant_awaits_recording(authorization: UtilityAuthorization) -> bool:
    """The utility granted access and the grant is kept, but not recorded yet (its job will)."""
    return authorization.status == "INITIATED" and authorization.authorized_at is not None


def _standing(authorization: UtilityAuthorization) -> int:
    """How much an attempt says about its utility: connected, then connecting, then the rest."""
    if authorization.status == "COMPLETED":
        return 2
    return 1 if grant_awaits_recording(authorization) else 0


@dataclass(frozen=True)
class UtilityRow:
    utility: Utility
    status: str | None
    error_code: str | None
    required: bool
    meter_count: int
    meters_pending: bool = False
    finishing: bool = False  # granted at the utility, still being recorded


@dataclass(frozen=True)
class SessionView:
    connect_session: ConnectSession
    flow: ConnectFlow
    organization: Organization
    rows: tuple[UtilityRow, ...]

    @property
    def connected(self) -> tuple[UtilityRow, ...]:
        return tuple(row for row in self.rows if row.status == "COMPLETED")

    @property
    def missing_required(self) -> tuple[UtilityRow, ...]:
        if self.connect_session.customer_type != "commercial":
            return ()
        return tuple(row for row in self.rows if row.required and row.status != "COMPLETED")

    @property
    def show_required(self) -> bool:
        return self.connect_session.customer_type == "commercial"

    @property
    def finishing(self) -> tuple[UtilityRow, ...]:
        return tuple(row for row in self.rows if row.finishing)

    @property
    def can_continue(self) -> bool:
        return bool(self.connected) and not self.missing_required and not self.finishing


async def load_session_view(
    session: AsyncSession, *, connect_session_id: uuid.UUID, binding: str | None
) -> SessionView:
    """The customer's session as their browser may see it; another browser gets a 404."""
    found = await repository.get_connect_session_with_flow(session, connect_session_id)
    if (
        found is None
        or binding is None
        or not secrets.compare_digest(found[0].browser_binding_hmac, binding)
    ):
        raise NotFound("We could not find this sign-up. Please open the link you were given again.")
    connect_session, flow, organization = found
    authorizations = await repository.list_authorizations(session, connect_session.id)
    latest: dict[str, UtilityAuthorization] = {}
    for authorization in authorizations:
        previous = latest.get(authorization.utility_id)
        # A completed (or kept) authorization stays the utility's status if a later retry failed.
        if previous is None or _standing(authorization) >= _standing(previous):
            latest[authorization.utility_id] = authorization
    meters = await meters_repository.list_meters_for_authorizations(
        session, [a.id for a in latest.values() if a.status == "COMPLETED"]
    )
    utility_ids = connect_session.requested_utility_ids or flow.utility_ids
    rows = tuple(
        UtilityRow(
            utility=UTILITIES_BY_ID[utility_id],
            status=latest[utility_id].status if utility_id in latest else None,
            error_code=latest[utility_id].error_code if utility_id in latest else None,
            required=utility_id in connect_session.requested_utility_ids,
            meter_count=sum(
                1
                for meter in meters
                if utility_id in latest and meter.utility_authorization_id == latest[utility_id].id
            ),
            meters_pending=utility_id in latest and latest[utility_id].meters_pending,
            finishing=utility_id in latest and grant_awaits_recording(latest[utility_id]),
        )
        for utility_id in utility_ids
    )
    return SessionView(connect_session, flow, organization, rows)


def touch(connect_session: ConnectSession) -> None:
    connect_session.last_interaction_at = utc_now()


async def finish(
    session: AsyncSession, view: SessionView, encryptor: Encryptor, *, now: datetime | None = None
) -> str:
    """Mark the session COMPLETED and return the signed thank-you URL."""
    if view.finishing:
        names = ", ".join(row.utility.name for row in view.finishing)
        raise JourneyRefused(
            f"We are still saving your connection to {names}. "
            "Please reload this page in a moment, then continue."
        )
    if not view.connected:
        raise JourneyRefused("Connect at least one utility before you continue.")
    if view.missing_required:
        names = ", ".join(row.utility.name for row in view.missing_required)
        raise JourneyRefused(f"Please connect every required utility first: {names}.")
    await terms.require_signed_terms(session, view.connect_session)  # raises TermsUnsigned
    connect_session = view.connect_session
    moment = now or utc_now()
    connect_session.last_interaction_at = moment
    if connect_session.status != "COMPLETED":
        connect_session.status = "COMPLETED"
        connect_session.completed_at = moment
        await events.session_updated(session, connect_session)
    secret = encryptor.decrypt(view.organization.redirect_signing_secret_encrypted)
    return signed_thank_you_url(
        view.flow.thank_you_url,
        secret=secret,
        connect_session_id=str(connect_session.id),
        ref_id=connect_session.partner_reference,
        ts=int(moment.timestamp()) if now else int(time.time()),
    )


def signed_thank_you_url(
    thank_you_url: str, *, secret: str, connect_session_id: str, ref_id: str | None, ts: int
) -> str:
    status = "completed"
    signature = sign(secret, f"{connect_session_id}.{ref_id or ''}.{status}.{ts}")
    parts = urlsplit(thank_you_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [
        ("refId", ref_id or ""),
        ("connect_session_id", connect_session_id),
        ("status", status),
        ("ts", str(ts)),
        ("signature", signature),
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))
