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
from leap_connect.models import AuditLogEntry, ConnectFlow, WebhookEvent, utc_now
from leap_connect.portal import repository

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


# --- meters ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterQuery:
    """The Meters tab's search form, as typed, and the API search it makes (or why not)."""

    values: dict[str, str]
    search: MeterSearch | None
    error: str | None

    def page_query(self, page_token: str) -> dict[str, str]:
        return {**{k: v for k, v in self.values.items() if v}, "page_token": page_token}


METER_FIELDS = ("reference", "connection_reference", "utility", "classification", "from", "to")


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


@dataclass(frozen=True)
class MeterActivity:
    """What a meter's page shows below it: agreements covering it, its events and its history."""

    agreements: list[tuple[AgreementOut, AgreementDocument]]
    events: list[WebhookEvent]
    history: list[AuditLogEntry]


async def meter_activity(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> MeterActivity:
    agreements = await esign_service.list_meter_agreements(session, organization_id, meter_id)
    return MeterActivity(
        agreements=[(agreement, agreement.document) for agreement in agreements],
        events=await repository.meter_webhook_events(session, organization_id, meter_id),
        history=await repository.meter_history(session, organization_id, meter_id),
    )


# --- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineStep:
    at: datetime | None
    label: str
    detail: str = ""
    failed: bool = False


async def session_timeline(
    session: AsyncSession, organization_id: uuid.UUID, connect_session: ConnectSessionOut
) -> list[TimelineStep]:
    steps = [TimelineStep(connect_session.created_at, "Opened")]
    for authorization in connect_session.authorizations:
        steps.append(
            TimelineStep(authorization.created_at, "Utility chosen", authorization.utility_id)
        )
        if authorization.status == "COMPLETED":
            steps.append(
                TimelineStep(authorization.updated_at, "Authorized", authorization.utility_id)
            )
        elif authorization.status == "FAILED":
            reason = authorization.error_code or authorization.status.lower()
            steps.append(
                TimelineStep(
                    authorization.updated_at,
                    "Failed",
                    f"{authorization.utility_id}: {reason}",
                    failed=True,
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
    opened = await repository.link_opens_between(
        session, organization_id, flow.id, first=first, last=last
    )
    counts = await repository.funnel_counts(
        session,
        organization_id,
        flow.id,
        since=_start_of(first),
        before=_start_of(last + timedelta(days=1)),
    )
    steps = [
        ("Links opened", opened),
        ("Utility chosen", counts.sessions),
        ("Authorized", counts.authorized),
        ("Signed", counts.signed),
        ("Completed", counts.completed),
    ]
    top = max(count for _, count in steps) or 1
    bars = [
        FunnelBar(
            label=label,
            count=count,
            width=max(1, round(CHART_WIDTH * count / top)) if count else 0,
            y=index * (BAR_HEIGHT + BAR_GAP),
            percent=f"{100 * count / steps[0][1]:.0f}%" if steps[0][1] else "–",
        )
        for index, (label, count) in enumerate(steps)
    ]
    return Funnel(flow=flow, first=first, last=last, bars=bars)
