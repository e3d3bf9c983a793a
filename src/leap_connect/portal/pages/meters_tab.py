"""The Meters tab: searching the organization's meters, and each meter's page and reference."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leap_connect.audit.service import Actor
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.esign import service as esign_service
from leap_connect.kit.csrf import checked_form
from leap_connect.kit.problems import NotFound, ValidationFailed
from leap_connect.meters import references as meter_references
from leap_connect.meters import search as meter_search
from leap_connect.meters.schemas import MeterOut
from leap_connect.models import ConnectFlow
from leap_connect.portal import exports, insights, service
from leap_connect.portal.auth import PortalCaller
from leap_connect.portal.deps import PortalCallerDep
from leap_connect.portal.pages.layout import PageRouter, csv_download, form_text, render

router = PageRouter()


@router.tab("/meters", "Meters")
async def meters_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    query = await insights.with_text_search(
        session, caller.organization.id, insights.meter_query(request.query_params)
    )
    page = None
    if query.search is not None:
        page = await meter_search.search_meters(
            session,
            organization_id=caller.organization.id,
            search=query.search,
            secret_key=runtime.secret_key,
        )
    next_url = (
        "/portal/meters?" + urlencode(query.page_query(page.next_page_token))
        if page and page.next_page_token
        else None
    )
    flows = await service.list_flows(session, caller.organization)
    utilities = sorted({u for flow in flows for u in flow.utility_ids})
    return render(
        request,
        caller,
        "portal/meters.html",
        {
            "query": query,
            "meters": page.meters if page else [],
            "next_url": next_url,
            "export_url": "/portal/meters.csv?"
            + urlencode({k: v for k, v in query.values.items() if v}),
            "utilities": utilities,
            "classifications": insights.CLASSIFICATIONS,
        },
        status=200 if query.error is None else 400,
    )


@router.get("/meters.csv")
async def meters_export(request: Request, caller: PortalCallerDep, runtime: RuntimeDep) -> Response:
    """The meters the search on screen finds, all of them, as a CSV file."""
    query = insights.meter_query(request.query_params)
    if query.search is None:
        return RedirectResponse("/portal/meters?" + urlencode(query.page_query("")), 303)
    rows = exports.meters_csv(
        runtime.sessionmaker,
        organization_id=caller.organization.id,
        search=query.search,
        secret_key=runtime.secret_key,
    )
    return csv_download(rows, "meters")


@router.get("/meters/{meter_id}")
async def meter_page(
    request: Request,
    meter_id: str,
    caller: PortalCallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    return await _render_meter(request, caller, session, meter_id)


@router.get("/agreements/{agreement_id}/pdf")
async def agreement_pdf(
    agreement_id: str, caller: PortalCallerDep, session: SessionDep
) -> Response:
    """The signed PDF, as the API gives it, for the agreements listed on a meter's page."""
    agreement, document = await esign_service.get_agreement(
        session, caller.organization.id, insights.parse_uuid(agreement_id, "agreement")
    )
    if agreement.pdf is None:
        raise NotFound("This agreement has no PDF.")
    return Response(
        agreement.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document.slug}-{agreement.id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/meters/{meter_id}/partner-reference")
async def update_partner_reference(
    request: Request,
    meter_id: str,
    caller: PortalCallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    form = await checked_form(request, caller.csrf_token)
    meter_uuid = insights.parse_uuid(meter_id, "meter")
    reference = form_text(form, "partner_reference")
    try:
        await meter_references.update_partner_reference(
            session,
            organization_id=caller.organization.id,
            meter_id=meter_uuid,
            partner_reference=reference,
            actor=Actor(type="user", id=str(caller.user.id)),
        )
    except ValidationFailed as invalid:
        return await _render_meter(
            request,
            caller,
            session,
            meter_id,
            error=str(invalid.detail),
            typed=reference,
            status=400,
        )
    return RedirectResponse(f"/portal/meters/{meter_uuid}?updated=1", status_code=303)


def _renewal_url(meter: MeterOut, flow: ConnectFlow | None) -> str | None:
    """The link builder, filled in for a new link to this meter's customer and utility."""
    if flow is None:
        return None
    query = {"flow": flow.url_friendly_title, "utility_id": meter.utility.utility_id}
    if meter.partner_reference:
        query["ref_id"] = meter.partner_reference
    return "/portal/connect/links/new?" + urlencode(query)


async def _render_meter(
    request: Request,
    caller: PortalCaller,
    session: SessionDep,
    meter_id: str,
    *,
    error: str | None = None,
    typed: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    organization_id = caller.organization.id
    meter_uuid = insights.parse_uuid(meter_id, "meter")
    meter = await meter_search.get_meter(
        session, organization_id=organization_id, meter_id=meter_uuid
    )
    activity = await insights.meter_activity(session, organization_id, meter_uuid)
    return render(
        request,
        caller,
        "portal/meter.html",
        {
            "meter": meter,
            "agreements": activity.agreements,
            "events": activity.events,
            "history": activity.history,
            "authorization_steps": activity.authorization_steps,
            "connect_session_id": activity.connect_session_id,
            "readings": activity.readings,
            "renewal_url": _renewal_url(meter, activity.flow),
            "error": error,
            "typed": (meter.partner_reference or "") if typed is None else typed,
            "updated": request.query_params.get("updated") == "1",
        },
        status=status,
    )
