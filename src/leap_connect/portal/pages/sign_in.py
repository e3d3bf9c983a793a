"""The portal's sign-in page, signing out, and /portal itself (which leads to the first tab)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.csrf import (
    browser_id,
    checked_form,
    csrf_token,
    ensure_browser_id,
    set_browser_cookie,
)
from leap_connect.kit.templating import templates
from leap_connect.portal import auth
from leap_connect.portal.auth import SessionExpired, SignInRefused, SignInThrottled
from leap_connect.portal.deps import (
    HOME_PATH,
    SAFE_NEXT,
    PortalCallerDep,
    clear_session_cookie,
    session_token,
    set_session_cookie,
)
from leap_connect.portal.pages.layout import PageRouter, form_text
from leap_connect.runtime import Runtime

router = PageRouter()

NOTICES = {
    "expired": "Your session has ended. Please sign in again.",
    "signed-out": "You have signed out.",
}


@router.get("")
@router.get("/")
async def portal_home(caller: PortalCallerDep) -> Response:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    try:
        caller = await auth.current_caller(session, runtime, session_token(request, runtime))
    except SessionExpired:
        caller = None
    if caller is not None:
        return RedirectResponse(_next_path(request.query_params.get("next")), status_code=303)
    notice = NOTICES.get(request.query_params.get("reason", ""))
    next_path = request.query_params.get("next", "")
    return _render_sign_in(request, runtime, notice=notice, next_path=next_path)


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    development = runtime.settings.is_development
    browser = browser_id(request, development=development)
    # Bound to the browser cookie, as on the journey's pages: nobody is signed in yet.
    expected = csrf_token(runtime.secret_key, browser) if browser else None
    form = await checked_form(request, expected, max_fields=10, max_part_size=8 * 1024)
    email = form_text(form, "email")
    next_path = form_text(form, "next")
    try:
        signed_in = await auth.sign_in(
            session,
            runtime,
            email=email,
            password=form_text(form, "password"),
            client=request.client.host if request.client else "unknown",
            previous_token=session_token(request, runtime),
        )
    except SignInThrottled as throttled:
        return _render_sign_in(
            request,
            runtime,
            email=email,
            next_path=next_path,
            message=throttled.message,
            status=429,
            headers={"Retry-After": str(throttled.retry_after)},
        )
    except SignInRefused as refused:
        return _render_sign_in(
            request, runtime, email=email, next_path=next_path, message=refused.message, status=400
        )
    response = RedirectResponse(_next_path(next_path), status_code=303)
    set_session_cookie(response, signed_in.token, development=development)
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    await checked_form(request, caller.csrf_token)
    await auth.sign_out(session, runtime, caller)
    response = RedirectResponse("/portal/sign-in?reason=signed-out", status_code=303)
    clear_session_cookie(response, development=runtime.settings.is_development)
    return response


def _render_sign_in(
    request: Request,
    runtime: Runtime,
    *,
    email: str = "",
    next_path: str = "",
    message: str | None = None,
    notice: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    development = runtime.settings.is_development
    browser, is_new = ensure_browser_id(request, development=development)
    response: HTMLResponse = templates().TemplateResponse(
        request,
        "portal/sign_in.html",
        {
            "caller": None,
            "organization": None,
            "brand_color": None,
            "csrf_token": csrf_token(runtime.secret_key, browser),
            "email": email,
            "message": message,
            "notice": notice,
            "next": next_path if SAFE_NEXT.fullmatch(next_path) else "",
        },
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
    if is_new:
        set_browser_cookie(response, browser, development=development)
    return response


def _next_path(value: str | None) -> str:
    return value if value and SAFE_NEXT.fullmatch(value) else HOME_PATH
