"""The partner portal at /portal: sign-in, and one tab per area (Connect, Meters, Sessions, ...).

A tab is a handler decorated with `@tab(path, label)` and a template extending
`portal/base.html`; the decorator adds it to the navigation and, with `admin_only=True`, keeps
members out of it (also by URL). Pages below a tab use `PortalCallerDep` or `AdminDep`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from leap_connect.kit.csrf import browser_id, csrf_token, ensure_browser_id, set_browser_cookie
from leap_connect.kit.deps import AppContext, AppContextDep, SessionDep, get_app_context
from leap_connect.kit.problems import Forbidden, ValidationFailed
from leap_connect.models import ConnectFlow
from leap_connect.portal import auth, service
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


# --- tabs whose back end is being built -----------------------------------------------------------


@tab("/meters", "Meters")
async def meters_tab(request: Request, caller: PortalCallerDep) -> Response:
    return render(request, caller, "portal/meters.html")


@tab("/sessions", "Sessions")
async def sessions_tab(request: Request, caller: PortalCallerDep) -> Response:
    return render(request, caller, "portal/sessions.html")


@tab("/developers", "Developers", admin_only=True)
async def developers_tab(request: Request, caller: AdminDep) -> Response:
    return render(request, caller, "portal/developers.html")
