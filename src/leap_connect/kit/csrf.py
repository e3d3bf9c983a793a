"""CSRF protection for server-rendered forms: a token derived from a per-browser cookie."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from leap_connect.kit.crypto import keyed_hash, signature_ok

BROWSER_COOKIE_DEV = "leap_connect_browser"
BROWSER_COOKIE_SECURE = "__Host-leap_connect_browser"
CSRF_FIELD = "csrf_token"
BROWSER_COOKIE_MAX_AGE = 60 * 60 * 24 * 30


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


def csrf_ok(secret_key: str, browser: str | None, token: object) -> bool:
    if not browser or not isinstance(token, str):
        return False
    return signature_ok(secret_key, f"csrf:{browser}", token)
