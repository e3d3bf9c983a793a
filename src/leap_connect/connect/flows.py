"""Connect flows (which utilities, customer types and thank-you URL a link uses) and their links."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import repository
from leap_connect.connect.links import build_link, utilities_named_in_link
from leap_connect.connect.schemas import FlowList, FlowOut, LinkOut
from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.kit.problems import Conflict, NotFound, ValidationFailed
from leap_connect.kit.urls import redirect_url_problem
from leap_connect.meters import repository as meters_repository
from leap_connect.models import ConnectFlow, Organization
from leap_connect.organizations import repository as organizations_repository
from leap_connect.organizations.service import check_url_name
from leap_connect.utilities.registry import TRANSMISSION_REGIONS, UTILITIES_BY_ID

CUSTOMER_TYPES = ("residential", "commercial")


# How long a flow may ask a customer's permission to last (utilities cap it; PG&E at its own end).
MAX_AUTHORIZATION_MONTHS = 120


async def create_flow(
    session: AsyncSession,
    *,
    organization: Organization,
    url_friendly_title: str,
    region: str,
    utility_ids: Sequence[str],
    customer_types: Sequence[str],
    thank_you_url: str,
    title: str | None = None,
    authorization_months: int = 12,
    development: bool,
) -> ConnectFlow:
    check_url_name(url_friendly_title, "The flow's URL-friendly title")
    if not 1 <= authorization_months <= MAX_AUTHORIZATION_MONTHS:
        raise ValidationFailed(
            f"A customer's permission can last 1 to {MAX_AUTHORIZATION_MONTHS} months, "
            f"not {authorization_months}."
        )
    region = region.upper()
    if region not in TRANSMISSION_REGIONS:
        raise ValidationFailed(
            f'Unknown region "{region}"; regions: {", ".join(TRANSMISSION_REGIONS)}.'
        )
    utilities = list(dict.fromkeys(u.strip().lower() for u in utility_ids if u.strip()))
    if not utilities:
        raise ValidationFailed("Give at least one utility.")
    for utility_id in utilities:
        utility = UTILITIES_BY_ID.get(utility_id)
        if utility is None:
            raise ValidationFailed(
                f'Unknown utility ID "{utility_id}". Supported: {", ".join(UTILITIES_BY_ID)}.'
            )
        if utility.transmission_region != region:
            raise ValidationFailed(
                f"{utility_id} is in {utility.transmission_region}, not in {region}."
            )
    types = list(dict.fromkeys(t.strip().lower() for t in customer_types if t.strip()))
    if not types or any(t not in CUSTOMER_TYPES for t in types):
        raise ValidationFailed(
            f"Customer types must be one or both of {', '.join(CUSTOMER_TYPES)}."
        )
    problem = redirect_url_problem(thank_you_url, development=development)
    if problem:
        raise ValidationFailed(problem)
    if await repository.get_flow(session, organization.id, url_friendly_title):
        raise Conflict(f'{organization.name} already has a flow named "{url_friendly_title}".')
    flow = ConnectFlow(
        organization_id=organization.id,
        url_friendly_title=url_friendly_title,
        title=title or url_friendly_title.replace("-", " ").capitalize(),
        transmission_region=region,
        utility_ids=utilities,
        customer_types=types,
        thank_you_url=thank_you_url,
        authorization_months=authorization_months,
    )
    session.add(flow)
    await session.flush()
    return flow


async def require_flow(
    session: AsyncSession, organization: Organization, url_friendly_title: str
) -> ConnectFlow:
    flow = await repository.get_flow(session, organization.id, url_friendly_title)
    if flow is None:
        raise NotFound(f'{organization.name} has no flow named "{url_friendly_title}".')
    return flow


async def list_flows(
    session: AsyncSession, *, organization_id: uuid.UUID, base_url: str
) -> FlowList:
    organization = await organizations_repository.get_organization(session, organization_id)
    assert organization is not None
    flows = await repository.list_flows(session, organization_id)
    return FlowList(
        flows=[
            FlowOut(
                flow=flow.url_friendly_title,
                title=flow.title,
                transmission_region=flow.transmission_region,
                utilities=list(flow.utility_ids),
                customer_types=list(flow.customer_types),
                enabled=flow.enabled,
                thank_you_url=flow.thank_you_url,
                url=build_link(base_url, organization.name, flow.url_friendly_title),
            )
            for flow in flows
        ]
    )


async def create_link(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    base_url: str,
    flow_name: str,
    requested_utilities: Sequence[str],
    ref_id: str | None,
    meter_id: uuid.UUID | None = None,
) -> LinkOut:
    """A Connect link, refused (422, naming each bad field) where the landing page would refuse.
    With `meter_id`, a renewal link for that meter's customer: its utility, its reference."""
    organization = await organizations_repository.get_organization(session, organization_id)
    assert organization is not None
    flow = await repository.get_flow(session, organization_id, flow_name)
    errors: list[dict[str, str]] = []
    if meter_id is not None:
        meter = await meters_repository.get_meter(session, organization_id, meter_id)
        if meter is None:
            errors.append({"field": "meter_id", "message": "There is no meter with this ID."})
        else:
            requested_utilities = requested_utilities or [meter.utility_id]
            ref_id = ref_id if ref_id is not None else meter.partner_reference
    requested: tuple[str, ...] = ()
    if flow is None or not flow.enabled:
        errors.append(
            {
                "field": "flow",
                "message": f'{organization.name} has no enabled flow named "{flow_name}".',
            }
        )
    else:
        try:
            requested = utilities_named_in_link(requested_utilities, offered=flow.utility_ids)
        except LinkError as error:
            errors.append({"field": "requested_utilities", "message": error.message})
    reference: str | None = None
    try:
        reference = parse_ref_id(ref_id)
    except LinkError as error:
        errors.append({"field": "ref_id", "message": error.message})
    if errors or flow is None:
        raise ValidationFailed(" ".join(error["message"] for error in errors), errors=errors)
    url = build_link(
        base_url,
        organization.name,
        flow.url_friendly_title,
        requested_utilities=requested,
        ref_id=reference,
    )
    return LinkOut(
        url=url, flow=flow.url_friendly_title, requested_utilities=list(requested), ref_id=reference
    )
