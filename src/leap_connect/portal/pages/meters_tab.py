"""The Meters tab: searching the organization's meters, and each meter's page and reference."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leap_connect.audit.service import Actor
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.csrf import checked_form
from leap_connect.kit.problems import ValidationFailed
from leap_connect.meters import references as meter_references
from leap_connect.meters import search as meter_search
from leap_connect.portal import insights, service
from leap_connect.portal.auth import PortalCaller
from leap_connect.portal.deps import PortalCallerDep
from leap_connect.portal.pages.layout import PageRouter, form_text, render

router = PageRouter()


@router.tab("/meters", "Meters")
async def meters_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    query = insights.meter_query(request.query_params)
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
            "utilities": utilities,
            "classifications": insights.CLASSIFICATIONS,
        },
        status=200 if query.error is None else 400,
    )


@router.get("/meters/{meter_id}")
async def meter_page(
    request: Request,
    meter_id: str,
    caller: PortalCallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    return await _render_meter(request, caller, session, meter_id)


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
            "error": error,
            "typed": (meter.partner_reference or "") if typed is None else typed,
            "updated": request.query_params.get("updated") == "1",
        },
        status=status,
    )
