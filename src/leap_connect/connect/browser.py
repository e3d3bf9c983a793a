"""The customer's browser as journey pages see it: its ID, its session binding, its forms."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request

from leap_connect.connect import service
from leap_connect.kit import csrf
from leap_connect.kit.csrf import browser_id, csrf_token
from leap_connect.runtime import Runtime

MAX_FORM_FIELDS = 30


def browser_of(request: Request, runtime: Runtime) -> str | None:
    return browser_id(request, development=runtime.settings.is_development)


def binding_of(runtime: Runtime, browser: str | None) -> str | None:
    """What a connect session stores to know its browser again (None: no cookie, no session)."""
    return service.browser_binding(runtime.secret_key, browser) if browser else None


async def session_view_of(
    request: Request, session: AsyncSession, runtime: Runtime, connect_session_id: uuid.UUID
) -> service.SessionView:
    """The connect session a page names, if it belongs to this browser (NotFound otherwise)."""
    browser = browser_of(request, runtime)
    return await service.load_session_view(
        session, connect_session_id=connect_session_id, binding=binding_of(runtime, browser)
    )


def csrf_for(runtime: Runtime, browser: str | None) -> str:
    return csrf_token(runtime.secret_key, browser) if browser else ""


async def checked_form(request: Request, runtime: Runtime, browser: str | None) -> FormData:
    """The posted form, once its CSRF token is known to come from a page this browser was given."""
    return await csrf.checked_form(
        request, csrf_for(runtime, browser) or None, max_fields=MAX_FORM_FIELDS
    )
