"""The web side of portal sign-in: the session cookie, caller and admin dependencies, checked forms.

`portal/auth.py` decides who is signed in; this module reads its token from the cookie, sends
those who are not to the sign-in page, and checks that a posted form came from a portal page.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response

from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.problems import Forbidden, LeapConnectError
from leap_connect.portal.auth import ABSOLUTE_LIFETIME, PortalCaller, SessionExpired, current_caller
from leap_connect.runtime import Runtime

SESSION_COOKIE_DEV = "leap_connect_portal"
SESSION_COOKIE_SECURE = "__Host-leap_connect_portal"

SIGN_IN_PATH = "/portal/sign-in"
HOME_PATH = "/portal/connect"
# Where sign-in may send the user back to: portal pages only, never another site.
SAFE_NEXT = re.compile(r"/portal(?:/[a-z0-9-]+)*/?")  # the whole value: use fullmatch


class SignInRequired(LeapConnectError):
    """Not signed in (or no longer): answered with a 303 to the sign-in page."""

    status_code = 303
    title = "Please sign in"
    type_slug = "sign-in-required"

    def __init__(self, *, next_path: str | None = None, reason: str | None = None) -> None:
        query = []
        if next_path and SAFE_NEXT.fullmatch(next_path) and next_path != HOME_PATH:
            query.append(f"next={quote(next_path, safe='/')}")
        if reason:
            query.append(f"reason={reason}")
        location = SIGN_IN_PATH + ("?" + "&".join(query) if query else "")
        super().__init__("Please sign in to the partner portal.", headers={"Location": location})


# --- cookie -----------------------------------------------------------------------------------


def session_cookie_name(*, development: bool) -> str:
    return SESSION_COOKIE_DEV if development else SESSION_COOKIE_SECURE


def set_session_cookie(response: Response, token: str, *, development: bool) -> None:
    response.set_cookie(
        session_cookie_name(development=development),
        token,
        max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=not development,
        path="/",
    )


def clear_session_cookie(response: Response, *, development: bool) -> None:
    response.delete_cookie(
        session_cookie_name(development=development),
        path="/",
        secure=not development,
        httponly=True,
        samesite="lax",
    )


def session_token(request: Request, runtime: Runtime) -> str | None:
    token = request.cookies.get(session_cookie_name(development=runtime.settings.is_development))
    return token if token and 20 <= len(token) <= 100 else None


# --- who is calling ---------------------------------------------------------------------------


async def get_portal_caller(
    request: Request, session: SessionDep, runtime: RuntimeDep
) -> PortalCaller:
    next_path = request.url.path if request.method == "GET" else None
    try:
        caller = await current_caller(session, runtime, session_token(request, runtime))
    except SessionExpired:
        raise SignInRequired(next_path=next_path, reason="expired") from None
    if caller is None:
        raise SignInRequired(next_path=next_path)
    return caller


PortalCallerDep = Annotated[PortalCaller, Depends(get_portal_caller)]


async def require_admin(caller: PortalCallerDep) -> PortalCaller:
    if not caller.is_admin:
        raise Forbidden(
            f"Only administrators of {caller.organization.display_name} can open this page. "
            "Ask one of them if you need it."
        )
    return caller


AdminDep = Annotated[PortalCaller, Depends(require_admin)]


# --- forms --------------------------------------------------------------------------------------
