"""The Sessions tab: Connect sessions a page at a time with a flow's funnel, and each timeline."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from leap_connect.connect import statuses
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.portal import insights, service
from leap_connect.portal.deps import PortalCallerDep
from leap_connect.portal.pages.layout import PageRouter, render

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
            "flows": flows,
            "funnel": funnel,
            "chart_width": insights.CHART_WIDTH,
            "bar_height": insights.BAR_HEIGHT,
        },
    )


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
    return render(
        request,
        caller,
        "portal/session.html",
        {"connect_session": connect_session, "timeline": timeline},
    )
