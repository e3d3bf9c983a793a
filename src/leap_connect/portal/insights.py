"""The Meters and Sessions tabs' logic: searches, a meter's activity, timelines and the funnel.

The queries are the partner API's (`meters/search.py`, `connect/statuses.py`,
`esign/service.py`), so the portal shows what the API shows; only what the API has no query for
lives in `portal/repository.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect.schemas import ConnectSessionOut, SessionFilters
from leap_connect.esign import service as esign_service
from leap_connect.esign.schemas import AgreementDocument, AgreementOut
from leap_connect.kit.problems import NotFound
from leap_connect.meters.schemas import MeterSearch
from leap_connect.models import (
    AuditLogEntry,
    ConnectFlow,
    UtilityAuthorization,
    WebhookEvent,
    utc_now,
)
from leap_connect.portal import repository, wording
from leap_connect.portal.readings_chart import CHART_DAYS, ReadingsChart, readings_chart
from leap_connect.utilities.registry import UTILITIES

PAGE_SIZE = 25
FUNNEL_DAYS = 30
SESSION_STATUSES = ("CREATED", "UPDATED", "COMPLETED", "CLOSED")
CLASSIFICATIONS = ("RESIDENTIAL", "COMMERCIAL")


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"There is no {what} with this ID.") from None


def parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value and value.strip() else None
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class TimelineStep:
    at: datetime | None
    label: str
    detail: str = ""
    failed: bool = False
    code: str = ""


# --- meters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterQuery:
    """The Meters tab's search form, as typed, and the API search it makes (or why not)."""

    values: dict[str, str]
    search: MeterSearch | None
    error: str | None

    def page_query(self, page_token: str) -> dict[str, str]:
        return {**{k: v for k, v in self.values.items() if v}, "page_token": page_token}


METER_FIELDS = ("q", "reference", "connection_reference", "utility", "classification", "from", "to")
# A text search finds at most this many meters (the API search's limit of meter IDs).
TEXT_MATCHES = 500


def meter_query(params: Mapping[str, str]) -> MeterQuery:
    values = {name: params.get(name, "").strip() for name in METER_FIELDS}
    first, last = parse_day(values["from"]), parse_day(values["to"])
    if (values["from"] and first is None) or (values["to"] and last is None):
        return MeterQuery(values, None, "Dates must be given as YYYY-MM-DD.")
    data: dict[str, object] = {"page_size": PAGE_SIZE}
    if values["reference"]:
        data["partner_references"] = [values["reference"]]
    if values["connection_reference"]:
        data["connection_reference_ids"] = [values["connection_reference"]]
    if values["utility"]:
        data["utility_ids"] = [values["utility"].lower()]
    if values["classification"]:
        data["customer_classification"] = values["classification"].upper()
    if first is not None:
        data["created_after_date_time"] = _start_of(first)
    if last is not None:
        data["created_before_date_time"] = _start_of(last + timedelta(days=1))
    token = params.get("page_token", "")
    if token:
        data["page_token"] = token
    try:
        return MeterQuery(values, MeterSearch.model_validate(data), None)
    except ValidationError as error:
        messages = [str(item["msg"]) for item in error.errors()]
        return MeterQuery(values, None, " ".join(messages))


async def with_text_search(
    session: AsyncSession, organization_id: uuid.UUID, query: MeterQuery
) -> MeterQuery:
    """The search narrowed to the meters whose customer, address, meter number, Reference ID or
    utility name holds the typed text; no search at all when none does."""
    text = query.values.get("q", "")
    if not text or query.search is None:
        return query
    lowered = text.casefold()
    utility_ids = [
        utility.utility_id
        for utility in UTILITIES
        if lowered in utility.name.casefold() or lowered in utility.customer_name.casefold()
    ]
    meter_ids = await repository.meter_ids_matching(
        session, organization_id, text, utility_ids=utility_ids, limit=TEXT_MATCHES
    )
    if not meter_ids:
        return MeterQuery(query.values, None, None)
    return MeterQuery(query.values, query.search.model_copy(update={"meter_ids": meter_ids}), None)


@dataclass(frozen=True)
class MeterActivity:
    """What a meter's page shows below it: agreements covering it, its events and its history."""

    agreements: list[tuple[AgreementOut, AgreementDocument]]
    events: list[WebhookEvent]
    history: list[AuditLogEntry]
    authorization_steps: list[TimelineStep]
    connect_session_id: uuid.UUID | None
    flow: ConnectFlow | None
    readings: ReadingsChart | None


def authorization_steps(authorization: UtilityAuthorization | None) -> list[TimelineStep]:
    """The meter's authorization, step by step, from the dates it keeps.

    (Refreshes and re-authorizations show here once authorizations record them.)
    """
    if authorization is None:
        return []
    utility = wording.utility_name(authorization.utility_id)
    steps = [TimelineStep(authorization.authorized_at, "Granted", f"by the customer at {utility}")]
    if authorization.revoked_at:
        steps.append(TimelineStep(authorization.revoked_at, "Revoked", failed=True))
    if authorization.expires_at:
        ended = authorization.expires_at <= utc_now()
        label = "Expired" if ended else "Expires"
        steps.append(TimelineStep(authorization.expires_at, label, failed=ended))
    return steps


async def meter_activity(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> MeterActivity:
    agreements = await esign_service.list_meter_agreements(session, organization_id, meter_id)
    found = await repository.meter_authorization(session, organization_id, meter_id)
    authorization, flow = found if found else (None, None)
    today = utc_now().date()
    first_chart_day = today - timedelta(days=CHART_DAYS - 1)
    return MeterActivity(
        agreements=[(agreement, agreement.document) for agreement in agreements],
        events=await repository.meter_webhook_events(session, organization_id, meter_id),
        history=await repository.meter_history(session, organization_id, meter_id),
        authorization_steps=authorization_steps(authorization),
        connect_session_id=authorization.connect_session_id if authorization else None,
        flow=flow,
        readings=readings_chart(
            await repository.meter_readings_since(
                session, organization_id, meter_id, since=_start_of(first_chart_day)
            ),
            last_day=today,
        ),
    )


# --- sessions -------------------------------------------------------------------------------------


async def session_timeline(
    session: AsyncSession, organization_id: uuid.UUID, connect_session: ConnectSessionOut
) -> list[TimelineStep]:
    steps = [TimelineStep(connect_session.created_at, "Opened")]
    for authorization in connect_session.authorizations:
        utility = wording.utility_name(authorization.utility_id)
        steps.append(TimelineStep(authorization.created_at, "Utility chosen", utility))
        if authorization.status == "COMPLETED":
            steps.append(TimelineStep(authorization.updated_at, "Authorized", utility))
        elif authorization.status == "FAILED":
            worded = wording.authorization_status(authorization.status, authorization.error_code)
            steps.append(
                TimelineStep(
                    authorization.updated_at, worded.words, utility, failed=True, code=worded.code
                )
            )
    agreements = await repository.session_agreements(
        session, organization_id, connect_session.connect_session_id
    )
    for agreement in agreements:
        steps.append(TimelineStep(agreement.signed_at, "Signed", agreement.signer_name))
    if connect_session.completed_at:
        steps.append(TimelineStep(connect_session.completed_at, "Completed"))
    if connect_session.closed_at:
        steps.append(TimelineStep(connect_session.closed_at, "Closed", failed=True))
    return sorted(steps, key=lambda step: step.at or connect_session.created_at)


def session_filters(
    params: Mapping[str, str],
) -> tuple[dict[str, str], SessionFilters]:
    reference = params.get("reference", "").strip()
    status = params.get("status", "").strip().upper()
    if status not in SESSION_STATUSES:
        status = ""
    values = {"reference": reference, "status": status}
    return values, SessionFilters(partner_reference=reference or None, status=status or None)


@dataclass(frozen=True)
class FunnelBar:
    label: str
    counts: str
    count: int
    width: int
    y: int
    percent: str


@dataclass(frozen=True)
class Funnel:
    flow: ConnectFlow
    first: date
    last: date
    bars: list[FunnelBar]


CHART_WIDTH = 400
BAR_HEIGHT = 28
BAR_GAP = 12

OPENED = (
    "Links opened",
    "People who opened one of the flow's links, each once a day however often they (or an e-mail"
    " scanner) opened it, and every session started.",
)
CHOSE = ("Utility chosen", "Sessions started: the customer filled in the form and chose a utility.")
AUTHORIZED = (
    "Authorized",
    "Sessions where a utility granted access, and sessions that went further.",
)
SIGNED = ("Signed", "Sessions whose customer signed the terms, and sessions that went further.")
COMPLETED = ("Completed", "Sessions that reached the thank-you page.")


def funnel_steps(
    counts: repository.FunnelCounts, *, has_terms: bool, terms_before_authorization: bool
) -> list[tuple[tuple[str, str], int]]:
    """The funnel's steps in the order the flow's customers take them, each with its count.

    Every step counts the sessions that reached it or went further, and the first adds the
    visitors who started no session, so no step ever counts more than the one before.
    """
    signed = [(SIGNED, counts.signed)] if has_terms else []
    authorized = [(AUTHORIZED, counts.authorized)]
    middle = signed + authorized if terms_before_authorization else authorized + signed
    return [
        (OPENED, counts.opened_without_session + counts.sessions),
        (CHOSE, counts.sessions),
        *middle,
        (COMPLETED, counts.completed),
    ]


async def funnel(
    session: AsyncSession,
    organization_id: uuid.UUID,
    flow: ConnectFlow,
    *,
    first: date | None,
    last: date | None,
) -> Funnel:
    today = utc_now().date()
    last = last or today
    first = first or last - timedelta(days=FUNNEL_DAYS - 1)
    if first > last:
        first, last = last, first
    counts = await repository.funnel_counts(
        session,
        organization_id,
        flow.id,
        first=first,
        last=last,
        terms_before_authorization=flow.terms_before_authorization,
    )
    steps = funnel_steps(
        counts,
        has_terms=await repository.flow_has_terms(session, flow.id),
        terms_before_authorization=flow.terms_before_authorization,
    )
    top = steps[0][1]
    bars = [
        FunnelBar(
            label=label,
            counts=counts_what,
            count=count,
            width=max(1, round(CHART_WIDTH * count / top)) if count else 0,
            y=index * (BAR_HEIGHT + BAR_GAP),
            percent=f"{100 * count / top:.0f}%" if top else "–",
        )
        for index, ((label, counts_what), count) in enumerate(steps)
    ]
    return Funnel(flow=flow, first=first, last=last, bars=bars)
