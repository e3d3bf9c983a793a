"""The partner portal at /portal: sign-in, and one tab per area (Connect, Meters, Sessions, ...).

A tab is a handler decorated with `@tab(path, label)` and a template extending
`portal/base.html`; the decorator adds it to the navigation and, with `admin_only=True`, keeps
members out of it (also by URL). Pages below a tab use `PortalCallerDep` or `AdminDep`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData, UploadFile

from leap_connect.audit.service import Actor
from leap_connect.connect import api_service
from leap_connect.esign import repository as esign_repository
from leap_connect.kit.csrf import browser_id, csrf_token, ensure_browser_id, set_browser_cookie
from leap_connect.kit.deps import AppContext, AppContextDep, SessionDep, get_app_context
from leap_connect.kit.problems import Conflict, Forbidden, NotFound, ValidationFailed
from leap_connect.meters import references as meter_references
from leap_connect.meters import search as meter_search
from leap_connect.models import ConnectFlow
from leap_connect.organizations import service as organizations_service
from leap_connect.organizations.service import API_KEY_SCOPES
from leap_connect.portal import auth, insights, repository, service
from leap_connect.portal.auth import (
    FORM_EXPIRED,
    HOME_PATH,
    SAFE_NEXT,
    AdminDep,
    PortalCaller,
    PortalCallerDep,
    SessionExpired,
    SignInRefused,
    SignInThrottled,
)
from leap_connect.portal.service import LinkInvalid, UploadUnreadable
from leap_connect.portal.tasks import saving_link_opens
from leap_connect.webhooks import service as webhooks_service
from leap_connect.webhooks.schemas import EventType, WebhookEndpointIn

EVENT_TYPES: tuple[str, ...] = get_args(EventType)

router = APIRouter(prefix="/portal", include_in_schema=False, lifespan=saving_link_opens)

Handler = TypeVar("Handler", bound=Callable[..., Any])

# Uploads past the portal's own limit get a page saying so; far past it, a bare 413.
MAX_UPLOAD_REQUEST_BYTES = 3 * service.MAX_UPLOAD_BYTES
SHOWN_REJECTED_ROWS = 1000
NOTICES = {
    "expired": "Your session has ended. Please sign in again.",
    "signed-out": "You have signed out.",
}


@dataclass(frozen=True)
class Tab:
    path: str
    label: str
    admin_only: bool = False


TABS: list[Tab] = []


def tab(path: str, label: str, *, admin_only: bool = False) -> Callable[[Handler], Handler]:
    """Register a GET handler as a tab of the portal's navigation, in the order of definition."""
    TABS.append(Tab(f"{router.prefix}{path}", label, admin_only))
    dependencies = [Depends(auth.require_admin)] if admin_only else []
    return router.get(path, dependencies=dependencies)


def render(
    request: Request,
    caller: PortalCaller,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A signed-in page: the layout gets the caller, the organization's branding and the tabs."""
    context = get_app_context(request)
    current = next((t for t in TABS if _within(request.url.path, t.path)), None)
    response: HTMLResponse = context.templates.TemplateResponse(
        request,
        template,
        {
            "caller": caller,
            "organization": caller.organization,
            "brand_color": caller.organization.brand_color,
            "tabs": [t for t in TABS if caller.is_admin or not t.admin_only],
            "current_tab": current,
            "csrf_token": caller.csrf_token,
            **(values or {}),
        },
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
    return response


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


# --- signing in and out ---------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def portal_home(caller: PortalCallerDep) -> Response:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request, session: SessionDep, context: AppContextDep) -> Response:
    try:
        caller = await auth.current_caller(session, context, auth.session_token(request, context))
    except SessionExpired:
        caller = None
    if caller is not None:
        return RedirectResponse(_next_path(request.query_params.get("next")), status_code=303)
    notice = NOTICES.get(request.query_params.get("reason", ""))
    next_path = request.query_params.get("next", "")
    return _render_sign_in(request, context, notice=notice, next_path=next_path)


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep, context: AppContextDep) -> Response:
    development = context.settings.is_development
    browser = browser_id(request, development=development)
    form = await request.form(max_files=0, max_fields=10, max_part_size=8 * 1024)
    if not auth.browser_form_ok(context.secret_key, browser, form):
        raise Forbidden(FORM_EXPIRED)
    email = _text(form, "email")
    next_path = _text(form, "next")
    try:
        signed_in = await auth.sign_in(
            session,
            context,
            email=email,
            password=_text(form, "password"),
            client=request.client.host if request.client else "unknown",
            previous_token=auth.session_token(request, context),
        )
    except SignInThrottled as throttled:
        return _render_sign_in(
            request,
            context,
            email=email,
            next_path=next_path,
            message=throttled.message,
            status=429,
            headers={"Retry-After": str(throttled.retry_after)},
        )
    except SignInRefused as refused:
        return _render_sign_in(
            request, context, email=email, next_path=next_path, message=refused.message, status=400
        )
    response = RedirectResponse(_next_path(next_path), status_code=303)
    auth.set_session_cookie(response, signed_in.token, development=development)
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    await auth.sign_out(session, context, caller)
    response = RedirectResponse("/portal/sign-in?reason=signed-out", status_code=303)
    auth.clear_session_cookie(response, development=context.settings.is_development)
    return response


def _render_sign_in(
    request: Request,
    context: AppContext,
    *,
    email: str = "",
    next_path: str = "",
    message: str | None = None,
    notice: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    development = context.settings.is_development
    browser, is_new = ensure_browser_id(request, development=development)
    response: HTMLResponse = context.templates.TemplateResponse(
        request,
        "portal/sign_in.html",
        {
            "caller": None,
            "organization": None,
            "brand_color": None,
            "csrf_token": csrf_token(context.secret_key, browser),
            "email": email,
            "message": message,
            "notice": notice,
            "next": next_path if SAFE_NEXT.match(next_path) else "",
        },
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
    if is_new:
        set_browser_cookie(response, browser, development=development)
    return response


def _next_path(value: str | None) -> str:
    return value if value and SAFE_NEXT.match(value) else HOME_PATH


# --- Connect tab ----------------------------------------------------------------------------------


@tab("/connect", "Connect")
async def connect_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    flows = await service.connect_overview(
        session, caller.organization, base_url=context.settings.base_url
    )
    return render(request, caller, "portal/connect.html", {"flows": flows})


@router.get("/connect/links/new")
async def link_builder(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    flows = await service.list_flows(session, caller.organization)
    flow = await _chosen_flow(session, caller, flows, request.query_params.get("flow"))
    return render(request, caller, "portal/link_builder.html", _builder_values(flows, flow))


@router.post("/connect/links")
async def create_link(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token)
    flow = await service.require_flow(session, caller.organization, _text(form, "flow"))
    flows = await service.list_flows(session, caller.organization)
    utility_ids = _texts(form, "utility_id")
    ref_id = _text(form, "ref_id")
    values = _builder_values(flows, flow, utility_ids=utility_ids, ref_id=ref_id)
    try:
        built = service.build_partner_link(
            caller.organization,
            flow,
            base_url=context.settings.base_url,
            utility_ids=utility_ids,
            ref_id=ref_id,
        )
    except LinkInvalid as invalid:
        return render(
            request,
            caller,
            "portal/link_builder.html",
            {**values, "errors": invalid.errors},
            status=400,
        )
    return render(request, caller, "portal/link_builder.html", {**values, "result": built})


@router.get("/connect/links/bulk")
async def bulk_links_page(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    flows = await service.list_flows(session, caller.organization)
    flow = await _chosen_flow(session, caller, flows, request.query_params.get("flow"))
    return render(request, caller, "portal/bulk_links.html", _builder_values(flows, flow))


@router.post("/connect/links/bulk", max_body_size=MAX_UPLOAD_REQUEST_BYTES)
async def upload_bulk_links(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token, max_files=1)
    flow = await service.require_flow(session, caller.organization, _text(form, "flow"))
    flows = await service.list_flows(session, caller.organization)
    utility_ids = _texts(form, "utility_id")
    values = _builder_values(flows, flow, utility_ids=utility_ids)
    upload = form.get("file")
    try:
        spec = service.read_link_spec(flow, utility_ids)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise UploadUnreadable("Choose a CSV file of Reference IDs to upload.")
        rows = service.read_uploaded_references(await upload.read(service.MAX_UPLOAD_BYTES + 1))
    except LinkInvalid as invalid:
        return _render_bulk(request, caller, {**values, "errors": invalid.errors}, 400)
    except UploadUnreadable as unreadable:
        errors = {"file": unreadable.message}
        return _render_bulk(request, caller, {**values, "errors": errors}, 400)
    result = service.bulk_links(spec, rows)
    return _render_bulk(
        request,
        caller,
        {
            **values,
            "result": result,
            "rows": len(rows),
            "shown_rejected": result.rejected[:SHOWN_REJECTED_ROWS],
            "ref_ids_json": service.encode_ref_ids(result.ref_ids),
            "filename": upload.filename if isinstance(upload, UploadFile) else "",
        },
        200,
    )


@router.post("/connect/links/bulk/download", max_body_size=MAX_UPLOAD_REQUEST_BYTES)
async def download_bulk_links(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    form = await auth.checked_form(
        request, caller.csrf_token, max_part_size=MAX_UPLOAD_REQUEST_BYTES
    )
    flow = await service.require_flow(session, caller.organization, _text(form, "flow"))
    try:
        spec = service.read_link_spec(flow, _texts(form, "utility_id"))
    except LinkInvalid as invalid:
        raise ValidationFailed(" ".join(invalid.errors.values())) from None
    ref_ids = service.decode_ref_ids(_text(form, "ref_ids"))
    body = service.links_csv(caller.organization, spec, ref_ids, context.settings.base_url)
    filename = f"{caller.organization.name}-{flow.url_friendly_title}-links.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _render_bulk(
    request: Request, caller: PortalCaller, values: dict[str, Any], status: int
) -> HTMLResponse:
    return render(request, caller, "portal/bulk_links.html", values, status=status)


async def _chosen_flow(
    session: SessionDep, caller: PortalCaller, flows: list[ConnectFlow], name: str | None
) -> ConnectFlow | None:
    if name:
        return await service.require_flow(session, caller.organization, name)
    return flows[0] if flows else None


def _builder_values(
    flows: list[ConnectFlow],
    flow: ConnectFlow | None,
    *,
    utility_ids: list[str] | None = None,
    ref_id: str = "",
) -> dict[str, Any]:
    return {
        "flows": [(item, service.flow_utilities(item)) for item in flows],
        "flow": flow,
        "values": {"utility_ids": [u.strip().lower() for u in utility_ids or []], "ref_id": ref_id},
        "errors": {},
        "result": None,
    }


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


# --- Meters tab -----------------------------------------------------------------------------------


@tab("/meters", "Meters")
async def meters_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    query = insights.meter_query(request.query_params)
    page = None
    if query.search is not None:
        page = await meter_search.search_meters(
            session,
            organization_id=caller.organization.id,
            search=query.search,
            secret_key=context.secret_key,
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
    context: AppContextDep,
) -> Response:
    return await _render_meter(request, caller, session, meter_id)


@router.post("/meters/{meter_id}/partner-reference")
async def update_partner_reference(
    request: Request,
    meter_id: str,
    caller: PortalCallerDep,
    session: SessionDep,
    context: AppContextDep,
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token)
    meter_uuid = insights.parse_uuid(meter_id, "meter")
    reference = _text(form, "partner_reference")
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
    agreements = await esign_repository.list_meter_agreements(session, organization_id, meter_uuid)
    return render(
        request,
        caller,
        "portal/meter.html",
        {
            "meter": meter,
            "agreements": agreements,
            "events": await repository.meter_webhook_events(session, organization_id, meter_uuid),
            "history": await repository.meter_history(session, organization_id, meter_uuid),
            "error": error,
            "typed": (meter.partner_reference or "") if typed is None else typed,
            "updated": request.query_params.get("updated") == "1",
        },
        status=status,
    )


# --- Sessions tab ---------------------------------------------------------------------------------


@tab("/sessions", "Sessions")
async def sessions_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, context: AppContextDep
) -> Response:
    params = request.query_params
    values, filters = insights.session_filters(params)
    page = await api_service.list_connect_sessions(
        session,
        organization_id=caller.organization.id,
        filters=filters,
        page_size=insights.PAGE_SIZE,
        page_token=params.get("page_token") or None,
        secret_key=context.secret_key,
    )
    next_url = (
        "/portal/sessions?"
        + urlencode({**{k: v for k, v in values.items() if v}, "page_token": page.next_page_token})
        if page.next_page_token
        else None
    )
    flows = await service.list_flows(session, caller.organization)
    flow = await _chosen_flow(session, caller, flows, params.get("flow"))
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
    context: AppContextDep,
) -> Response:
    connect_session = await api_service.get_connect_session(
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


# --- Developers tab (admins) ----------------------------------------------------------------------


@tab("/developers", "Developers", admin_only=True)
async def developers_tab(
    request: Request, caller: AdminDep, session: SessionDep, context: AppContextDep
) -> Response:
    return await _render_developers(request, caller, session)


async def _render_developers(
    request: Request,
    caller: PortalCaller,
    session: SessionDep,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    organization_id = caller.organization.id
    return render(
        request,
        caller,
        "portal/developers.html",
        {
            "api_keys": await repository.list_api_keys(session, organization_id),
            "scopes": API_KEY_SCOPES,
            "endpoints": await webhooks_service.list_endpoints(
                session, organization_id=organization_id
            ),
            "event_types": EVENT_TYPES,
            "new_token": None,
            "new_secret": None,
            "errors": {},
            "notice": None,
            **(values or {}),
        },
        status=status,
    )


@router.post("/developers/api-keys")
async def create_api_key(
    request: Request, caller: AdminDep, session: SessionDep, context: AppContextDep
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token)
    name = _text(form, "name").strip()[:200] or "API key"
    try:
        issued = await organizations_service.create_api_key(
            session,
            context.secret_key,
            organization=caller.organization,
            scopes=_texts(form, "scope"),
            name=name,
        )
    except ValidationFailed as invalid:
        errors = {"scope": str(invalid.detail)}
        return await _render_developers(request, caller, session, {"errors": errors}, status=400)
    return await _render_developers(
        request, caller, session, {"new_token": issued.token, "new_key": issued.api_key}
    )


@router.post("/developers/api-keys/{api_key_id}/revoke")
async def revoke_api_key(
    request: Request, api_key_id: str, caller: AdminDep, session: SessionDep
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    api_key = await repository.get_api_key(
        session, caller.organization.id, insights.parse_uuid(api_key_id, "API key")
    )
    if api_key is None:
        raise NotFound("There is no API key with this ID.")
    organizations_service.revoke_api_key(api_key)
    return RedirectResponse("/portal/developers", status_code=303)


@router.post("/developers/webhooks")
async def create_webhook_endpoint(
    request: Request, caller: AdminDep, session: SessionDep, context: AppContextDep
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token)
    url = _text(form, "url").strip()
    event_types = [t for t in _texts(form, "event_type") if t in EVENT_TYPES]
    if not event_types:
        errors = {"event_type": "Choose at least one event type."}
        return await _render_developers(
            request, caller, session, {"errors": errors, "typed_url": url}, status=400
        )
    try:
        endpoint, secret = await webhooks_service.create_endpoint(
            session,
            context.encryptor,
            organization_id=caller.organization.id,
            data=WebhookEndpointIn.model_validate({"url": url, "event_types": event_types}),
            development=context.settings.is_development,
        )
    except (ValidationFailed, PydanticValidationError) as invalid:
        message = (
            str(invalid.detail)
            if isinstance(invalid, ValidationFailed)
            else "Give the endpoint's URL (https, at most 2000 characters)."
        )
        return await _render_developers(
            request, caller, session, {"errors": {"url": message}, "typed_url": url}, status=400
        )
    return await _render_developers(
        request, caller, session, {"new_secret": secret, "new_endpoint": endpoint}
    )


@router.get("/developers/webhooks/{endpoint_id}")
async def webhook_endpoint_page(
    request: Request,
    endpoint_id: str,
    caller: AdminDep,
    session: SessionDep,
    context: AppContextDep,
) -> Response:
    endpoint_uuid = insights.parse_uuid(endpoint_id, "webhook endpoint")
    return await _render_webhook_endpoint(
        request,
        caller,
        session,
        context,
        endpoint_uuid,
        {"notice": _WEBHOOK_NOTICES.get(request.query_params.get("done", ""))},
    )


async def _render_webhook_endpoint(
    request: Request,
    caller: PortalCaller,
    session: SessionDep,
    context: AppContext,
    endpoint_uuid: uuid.UUID,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    endpoint = await webhooks_service.get_endpoint(
        session, organization_id=caller.organization.id, endpoint_id=endpoint_uuid
    )
    delivery_status = request.query_params.get("status") or None
    deliveries = await webhooks_service.list_deliveries(
        session,
        secret_key=context.secret_key,
        organization_id=caller.organization.id,
        endpoint_id=endpoint_uuid,
        page_size=insights.PAGE_SIZE,
        page_token=request.query_params.get("page_token") or None,
        status=delivery_status,
    )
    next_url = (
        f"/portal/developers/webhooks/{endpoint_uuid}?"
        + urlencode(
            {
                **({"status": delivery_status} if delivery_status else {}),
                "page_token": deliveries.next_page_token,
            }
        )
        if deliveries.next_page_token
        else None
    )
    return render(
        request,
        caller,
        "portal/webhook_endpoint.html",
        {
            "endpoint": endpoint,
            "deliveries": deliveries.deliveries,
            "next_url": next_url,
            "notice": None,
            "event_types": EVENT_TYPES,
            "errors": {},
            "typed": {
                "url": endpoint.url,
                "event_types": list(endpoint.event_types),
                "enabled": endpoint.enabled,
            },
            "rotated_secret": None,
            "rotated_until": None,
            **(values or {}),
        },
        status=status,
    )


_WEBHOOK_NOTICES = {
    "ping": "A ping event is on its way to this endpoint; it shows in the log below.",
    "redeliver": "The delivery is being sent again.",
    "busy": "That delivery is still pending: it is attempted again on its schedule.",
    "updated": "The endpoint's settings are saved.",
}


@router.post("/developers/webhooks/{endpoint_id}/test")
async def test_webhook_endpoint(
    request: Request, endpoint_id: str, caller: AdminDep, session: SessionDep
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    endpoint_uuid = insights.parse_uuid(endpoint_id, "webhook endpoint")
    await webhooks_service.send_test_event(
        session, organization_id=caller.organization.id, endpoint_id=endpoint_uuid
    )
    return RedirectResponse(
        f"/portal/developers/webhooks/{endpoint_uuid}?done=ping", status_code=303
    )


@router.post("/developers/webhooks/{endpoint_id}/delete")
async def delete_webhook_endpoint(
    request: Request, endpoint_id: str, caller: AdminDep, session: SessionDep
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    await webhooks_service.delete_endpoint(
        session,
        organization_id=caller.organization.id,
        endpoint_id=insights.parse_uuid(endpoint_id, "webhook endpoint"),
    )
    return RedirectResponse("/portal/developers", status_code=303)


@router.post("/developers/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver_webhook(
    request: Request, endpoint_id: str, delivery_id: str, caller: AdminDep, session: SessionDep
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    endpoint_uuid = insights.parse_uuid(endpoint_id, "webhook endpoint")
    try:
        await webhooks_service.redeliver(
            session,
            organization_id=caller.organization.id,
            endpoint_id=endpoint_uuid,
            delivery_id=insights.parse_uuid(delivery_id, "delivery"),
        )
    except Conflict:
        done = "busy"
    else:
        done = "redeliver"
    return RedirectResponse(
        f"/portal/developers/webhooks/{endpoint_uuid}?done={done}", status_code=303
    )


@router.post("/developers/webhooks/{endpoint_id}/edit")
async def edit_webhook_endpoint(
    request: Request,
    endpoint_id: str,
    caller: AdminDep,
    session: SessionDep,
    context: AppContextDep,
) -> Response:
    form = await auth.checked_form(request, caller.csrf_token)
    endpoint_uuid = insights.parse_uuid(endpoint_id, "webhook endpoint")
    endpoint = await webhooks_service.get_endpoint(
        session, organization_id=caller.organization.id, endpoint_id=endpoint_uuid
    )
    url = _text(form, "url").strip()
    event_types = [t for t in EVENT_TYPES if t in _texts(form, "event_type")]
    enabled = _text(form, "enabled") == "on"
    typed = {"url": url, "event_types": event_types, "enabled": enabled}
    errors: dict[str, str] = {}
    if not event_types:
        errors["event_type"] = "Choose at least one event type."
    else:
        try:
            await webhooks_service.replace_endpoint(
                session,
                organization_id=caller.organization.id,
                endpoint_id=endpoint_uuid,
                data=WebhookEndpointIn.model_validate(
                    {
                        "url": url,
                        "event_types": event_types,
                        "enabled": enabled,
                        "headers": dict(endpoint.headers),
                    }
                ),
                development=context.settings.is_development,
            )
        except (ValidationFailed, PydanticValidationError) as invalid:
            errors["url"] = (
                str(invalid.detail)
                if isinstance(invalid, ValidationFailed)
                else "Give the endpoint's URL (https, at most 2000 characters)."
            )
    if errors:
        return await _render_webhook_endpoint(
            request,
            caller,
            session,
            context,
            endpoint_uuid,
            {"errors": errors, "typed": typed},
            status=400,
        )
    return RedirectResponse(
        f"/portal/developers/webhooks/{endpoint_uuid}?done=updated", status_code=303
    )


@router.post("/developers/webhooks/{endpoint_id}/rotate-secret")
async def rotate_webhook_secret(
    request: Request,
    endpoint_id: str,
    caller: AdminDep,
    session: SessionDep,
    context: AppContextDep,
) -> Response:
    await auth.checked_form(request, caller.csrf_token)
    endpoint_uuid = insights.parse_uuid(endpoint_id, "webhook endpoint")
    secret, expires_at = await webhooks_service.rotate_secret(
        session,
        context.encryptor,
        organization_id=caller.organization.id,
        endpoint_id=endpoint_uuid,
    )
    return await _render_webhook_endpoint(
        request,
        caller,
        session,
        context,
        endpoint_uuid,
        {"rotated_secret": secret, "rotated_until": expires_at},
    )
