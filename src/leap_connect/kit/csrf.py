"""CSRF protection for server-rendered forms: a token derived from a per-browser cookie (or from
a signed-in session), checked on every form a page posts."""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from leap_connect.kit.crypto import keyed_hash
from leap_connect.kit.problems import Forbidden

BROWSER_COOKIE_DEV = "leap_connect_browser"
BROWSER_COOKIE_SECURE = "__Host-leap_connect_browser"
CSRF_FIELD = "csrf_token"
BROWSER_COOKIE_MAX_AGE = 60 * 60 * 24 * 30
FORM_EXPIRED = (
    "This form has expired or was not sent from this page. Please go back, reload the page and "
    "try again. (Cookies must be enabled.)"
)


def browser_cookie_name(*, development: bool) -> str:
    return BROWSER_COOKIE_DEV if development else BROWSER_COOKIE_SECURE


def browser_id(request: Request, *, development: bool) -> str | None:
    value = request.cookies.get(browser_cookie_name(development=development))
    if value and 20 <= len(value) <= 100:
        return value
    return None


def ensure_browser_id(request: Request, *, development: bool) -> tuple[str, bool]:
    """The browser's ID, and whether it is new (then the response must set the cookie)."""
    existing = browser_id(request, development=development)
    if existing:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_browser_cookie(response: Response, value: str, *, development: bool) -> None:
    response.set_cookie(
        browser_cookie_name(development=development),
        value,
        max_age=BROWSER_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=not development,
        path="/",
    )


def csrf_token(secret_key: str, browser: str) -> str:
    return keyed_hash(secret_key, f"csrf:{browser}")


async def checked_form(
    request: Request,
    expected_token: str | None,
    *,
    max_files: int = 0,
    max_fields: int = 50,
    max_part_size: int = 64 * 1024,
) -> FormData:
    """The posted form, once it carries the CSRF token its page was given; a 403 otherwise."""
    form = await request.form(
        max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
    )
    token = form.get(CSRF_FIELD)
    sent = token.encode() if isinstance(token, str) else b""
    if not expected_token or not secrets.compare_digest(sent, expected_token.encode()):
        raise Forbidden(FORM_EXPIRED)
    return form
