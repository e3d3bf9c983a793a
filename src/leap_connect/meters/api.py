"""The partner API's meter operations (/v2/meters)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from leap_connect.api.deps import ApiCaller, MetersRead, MetersWrite
from leap_connect.api.openapi import AUTHENTICATED, problem_responses
from leap_connect.api.params import UtcDateTime
from leap_connect.audit.service import Actor
from leap_connect.deps import ReadSessionDep, RuntimeDep, SessionDep
from leap_connect.meters import intervals, references, search
from leap_connect.meters.schemas import (
    BulkPartnerReferenceResults,
    BulkPartnerReferenceUpdate,
    MeterIntervalsOut,
    MeterOut,
    MeterSearch,
    MeterSearchPage,
    PartnerReferenceUpdate,
)

router = APIRouter(prefix="/v2/meters", tags=["Meters"])

MeterId = Annotated[uuid.UUID, "The meter's ID"]


def actor(caller: ApiCaller) -> Actor:
    return Actor("api_key", str(caller.api_key_id))


@router.post(
    "/search",
    operation_id="searchMeters",
    summary="Search meters",
    description=(
        "Meters that match every filter given, newest first. A page holds up to `page_size` "
        "meters; pass `next_page_token` back as `page_token`, with the same filters, for the next "
        "page. Paging is stable while new meters arrive: each meter appears once."
    ),
    response_model=MeterSearchPage,
    responses=problem_responses(400, *AUTHENTICATED, 422),
)
async def search_meters(
    caller: MetersRead,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    body: Annotated[MeterSearch, Body()],
) -> Response:
    page = await search.find_meters(
        session, organization_id=caller.organization_id, search=body, secret_key=runtime.secret_key
    )
    # The bytes `response_model` would give, without validating up to 500 meters a second time.
    return Response(page.json(), media_type="application/json")


@router.patch(
    "/partner_reference",
    operation_id="updatePartnerReferences",
    summary="Change the partner reference of many meters",
    description=(
        "Up to 500 updates, each applied on its own: one that fails (`invalid` or `not_found`) "
        "leaves its meter unchanged and does not stop the others. Each change is audited and "
        "announced by a `meter.partner_reference.updated` webhook event."
    ),
    response_model=BulkPartnerReferenceResults,
    responses=problem_responses(400, *AUTHENTICATED, 422),
)
async def update_partner_references(
    caller: MetersWrite, session: SessionDep, body: BulkPartnerReferenceUpdate
) -> BulkPartnerReferenceResults:
    return await references.update_partner_references(
        session, organization_id=caller.organization_id, updates=body.updates, actor=actor(caller)
    )


@router.get(
    "/{meter_id}",
    operation_id="getMeter",
    summary="Get a meter",
    response_model=MeterOut,
    responses=problem_responses(*AUTHENTICATED, 404, 422),
)
async def get_meter(caller: MetersRead, session: SessionDep, meter_id: uuid.UUID) -> MeterOut:
    return await search.get_meter(
        session, organization_id=caller.organization_id, meter_id=meter_id
    )


@router.patch(
    "/{meter_id}/partner_reference",
    operation_id="updatePartnerReference",
    summary="Change a meter's partner reference",
    description=(
        "The same rule as a link's `refId`: 1–255 printable US-ASCII characters. The change is "
        "audited and announced by a `meter.partner_reference.updated` webhook event."
    ),
    response_model=MeterOut,
    responses=problem_responses(400, *AUTHENTICATED, 404, 422),
)
async def update_partner_reference(
    caller: MetersWrite, session: SessionDep, meter_id: uuid.UUID, body: PartnerReferenceUpdate
) -> MeterOut:
    return await references.update_partner_reference(
        session,
        organization_id=caller.organization_id,
        meter_id=meter_id,
        partner_reference=body.partner_reference,
        actor=actor(caller),
    )


@router.get(
    "/{meter_id}/intervals",
    operation_id="getMeterIntervals",
    summary="Get a meter's interval readings",
    description=(
        "Readings that start in `[start, end)`, at most 31 days, oldest first, in kWh: energy "
        "delivered to the customer, received from the customer (solar export) and their net, of "
        "one interval length (`interval_seconds`, the finest by default). They come from the "
        "utility the first time and are kept, so asking again is fast."
    ),
    response_model=MeterIntervalsOut,
    responses=problem_responses(*AUTHENTICATED, 404, 409, 422, 502, 503),
)
async def get_meter_intervals(
    caller: MetersRead,
    session: SessionDep,
    runtime: RuntimeDep,
    meter_id: uuid.UUID,
    start: Annotated[
        UtcDateTime,
        Query(description="ISO 8601; no offset means UTC.", examples=["2026-11-01T00:00:00Z"]),
    ],
    end: Annotated[
        UtcDateTime,
        Query(
            description="ISO 8601, after start, at most 31 days after it.",
            examples=["2026-11-08T00:00:00Z"],
        ),
    ],
    interval_seconds: Annotated[
        int | None,
        Query(
            gt=0,
            le=86400,
            description=(
                "The interval length to read, in seconds (e.g. 900 or 3600), when the utility "
                "reports more than one; the finest by default."
            ),
        ),
    ] = None,
) -> MeterIntervalsOut:
    return await intervals.meter_intervals(
        session,
        organization_id=caller.organization_id,
        meter_id=meter_id,
        start=start,
        end=end,
        interval_seconds=interval_seconds,
        access=intervals.UtilityAccess(
            connectors=runtime.connectors,
            encryptor=runtime.encryptor,
            sessionmaker=runtime.sessionmaker,
        ),
    )
