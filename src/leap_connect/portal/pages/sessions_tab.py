"""The Sessions tab: Connect sessions a page at a time with a flow's funnel, and each timeline."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from leap_connect.connect import lifecycle, statuses
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.csrf import checked_form
from leap_connect.portal import activity, exports, insights, service
from leap_connect.portal.deps import AdminDep, PortalCallerDep
from leap_connect.portal.pages.layout import (
    PageRouter,
    confirmation_page,
    confirmed,
    csv_download,
    render,
)

router = PageRouter()


@router.tab("/sessions", "Sessions")
async def sessions_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    params = request.query_params
    values, filters = insights.session_filters(params)
    page = await statuses.list_connect_sessions(
        session,
        organization_id=caller.organization.id,
        filters=filters,
        page_size=insights.PAGE_SIZE,
        page_token=params.get("page_token") or None,
        secret_key=runtime.secret_key,
    )
    next_url = (
        "/portal/sessions?"
        + urlencode({**{k: v for k, v in values.items() if v}, "page_token": page.next_page_token})
        if page.next_page_token
        else None
    )
    flows = await service.list_flows(session, caller.organization)
    flow = await service.chosen_flow(session, caller.organization, flows, params.get("flow"))
    funnel = (
        await insights.funnel(
            session,
            caller.organization.id,
            flow,
            first=insights.parse_day(params.get("from")),
            last=insights.parse_day(params.get("to")),
        )
        if flow
        else None
    )
    return render(
        request,
        caller,
        "portal/sessions.html",
        {
            "values": values,
            "statuses": insights.SESSION_STATUSES,
            "connect_sessions": page.connect_sessions,
            "next_url": next_url,
            "export_url": "/portal/sessions.csv?"
            + urlencode({k: v for k, v in values.items() if v}),
            "flows": flows,
            "flow_titles": {f.url_friendly_title: f.title for f in flows},
            "funnel": funnel,
            "chart_width": insights.CHART_WIDTH,
            "bar_height": insights.BAR_HEIGHT,
        },
    )


@router.get("/sessions.csv")
async def sessions_export(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The sessions the filter on screen lists, all of them, as a CSV file."""
    _, filters = insights.session_filters(request.query_params)
    flows = await service.list_flows(session, caller.organization)
    rows = exports.sessions_csv(
        runtime.sessionmaker,
        organization_id=caller.organization.id,
        filters=filters,
        flow_titles={f.url_friendly_title: f.title for f in flows},
        secret_key=runtime.secret_key,
    )
    return csv_download(rows, "sessions")


@router.get("/sessions/{connect_session_id}")
async def session_page(
    request: Request,
    connect_session_id: str,
    caller: PortalCallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    connect_session = await statuses.get_connect_session(
        session,
        organization_id=caller.organization.id,
        connect_session_id=insights.parse_uuid(connect_session_id, "connect session"),
    )
    timeline = await insights.session_timeline(session, caller.organization.id, connect_session)
    flows = await service.list_flows(session, caller.organization)
    flow_title = next(
        (f.title for f in flows if f.url_friendly_title == connect_session.flow),
        connect_session.flow,
    )
    return render(
        request,
        caller,
        "portal/session.html",
        {"connect_session": connect_session, "timeline": timeline, "flow_title": flow_title},
    )


@router.post("/authorizations/{authorization_id}/revoke")
async def revoke_authorization(
    request: Request,
    authorization_id: str,
    caller: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Revoke a customer's grant at the utility and here, after saying what stops."""
    form = await checked_form(request, caller.csrf_token)
    parsed = insights.parse_uuid(authorization_id, "authorization")
    if not confirmed(form):
        authorization = await lifecycle.authorization_of_organization(
            session, organization_id=caller.organization.id, authorization_id=parsed
        )
        cancel_url = f"/portal/sessions/{authorization.connect_session_id}"
        return confirmation_page(request, caller, "revoke_authorization", authorization, cancel_url)
    revocation = await lifecycle.revoke_for_partner(
        session,
        organization_id=caller.organization.id,
        authorization_id=parsed,
        connectors=runtime.connectors,
        encryptor=runtime.encryptor,
    )
    activity.record_portal_change(
        session,
        organization_id=caller.organization.id,
        user_id=caller.user.id,
        action="authorization.revoked",
        object_type="authorization",
        object_id=parsed,
        after={
            "status": revocation.authorization.status,
            "utility_id": revocation.authorization.utility_id,
        },
    )
    return RedirectResponse(f"/portal/sessions/{revocation.connect_session.id}", status_code=303)
