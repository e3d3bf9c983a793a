"""The customer's browser as journey pages see it: its ID, its session binding, its forms."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from leap_connect.connect import service
from leap_connect.kit.csrf import CSRF_FIELD, browser_id, csrf_ok, csrf_token
from leap_connect.kit.problems import Forbidden
from leap_connect.runtime import Runtime

MAX_FORM_FIELDS = 30


def browser_of(request: Request, runtime: Runtime) -> str | None:
    return browser_id(request, development=runtime.settings.is_development)


def binding_of(runtime: Runtime, browser: str | None) -> str | None:
    """What a connect session stores to know its browser again (None: no cookie, no session)."""
    return service.browser_binding(runtime.secret_key, browser) if browser else None


def csrf_for(runtime: Runtime, browser: str | None) -> str:
    return csrf_token(runtime.secret_key, browser) if browser else ""


async def checked_form(request: Request, runtime: Runtime, browser: str | None) -> FormData:
    """The posted form, once its CSRF token is known to come from a page this browser was given."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
    if not csrf_ok(runtime.secret_key, browser, form.get(CSRF_FIELD)):
        raise Forbidden(
            "This form has expired or was not sent from this page. Please go back, reload the "
            "page and try again. (Cookies must be enabled.)"
        )
    return form
