"""Portal sign-in: passwords, server-side sessions behind a cookie, CSRF, roles and attempt limits.

The cookie carries a random token; the `portal_sessions` table keeps only its HMAC, so a copy of
the database signs nobody in. A session ends after `IDLE_TIMEOUT` without a request, after
`ABSOLUTE_LIFETIME` whatever happens, or when its user signs out.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from leap_connect.kit.crypto import keyed_hash
from leap_connect.kit.csrf import CSRF_FIELD, csrf_ok, csrf_token
from leap_connect.kit.deps import AppContext, AppContextDep, SessionDep
from leap_connect.kit.problems import Forbidden, LeapConnectError
from leap_connect.kit.ratelimit import RateLimiter, RateLimitSettings
from leap_connect.models import Organization, PortalSession, User, utc_now
from leap_connect.organizations import repository as organizations_repository
from leap_connect.organizations.service import password_hasher
from leap_connect.portal import repository

SESSION_COOKIE_DEV = "leap_connect_portal"
SESSION_COOKIE_SECURE = "__Host-leap_connect_portal"
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
# Recording every request's time would be a write per page; a minute's precision is plenty.
TOUCH_AFTER = timedelta(minutes=1)

# Attempts, successful or not, in a moving window; beyond them sign-in answers 429.
SIGN_IN_LIMIT_PER_CLIENT = "30 per 10 minutes"
SIGN_IN_LIMIT_PER_EMAIL = "10 per 15 minutes"
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 1000

SIGN_IN_FAILED = "The e-mail address or the password is not right. Please check both and try again."
FORM_EXPIRED = (
    "This form has expired or was not sent from this page. Please go back, reload the page and "
    "try again. (Cookies must be enabled.)"
)
SIGN_IN_PATH = "/portal/sign-in"
HOME_PATH = "/portal/connect"
# Where sign-in may send the user back to: portal pages only, never another site.
SAFE_NEXT = re.compile(r"^/portal(?:/[a-z0-9-]+)*/?$")


class SignInRequired(LeapConnectError):
    """Not signed in (or no longer): answered with a 303 to the sign-in page."""

    status_code = 303
    title = "Please sign in"
    type_slug = "sign-in-required"

    def __init__(self, *, next_path: str | None = None, reason: str | None = None) -> None:
        query = []
        if next_path and SAFE_NEXT.match(next_path) and next_path != HOME_PATH:
            query.append(f"next={quote(next_path, safe='/')}")
        if reason:
            query.append(f"reason={reason}")
        location = SIGN_IN_PATH + ("?" + "&".join(query) if query else "")
        super().__init__("Please sign in to the partner portal.", headers={"Location": location})


class SignInRefused(Exception):
    """Wrong e-mail or password; the message never says which."""

    def __init__(self) -> None:
        super().__init__(SIGN_IN_FAILED)
        self.message = SIGN_IN_FAILED


class SignInThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        self.retry_after = retry_after
        self.message = (
            "Too many sign-in attempts. For your security, please wait "
            f"{minutes} {'minute' if minutes == 1 else 'minutes'} and try again."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class PortalCaller:
    """The signed-in user: every query a portal page makes is scoped to `organization`."""

    user: User
    organization: Organization
    portal_session: PortalSession
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str


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


def session_token(request: Request, context: AppContext) -> str | None:
    token = request.cookies.get(session_cookie_name(development=context.settings.is_development))
    return token if token and 20 <= len(token) <= 100 else None


def _token_hmac(secret_key: str, token: str) -> str:
    return keyed_hash(secret_key, f"portal-session:{token}")


def session_csrf_token(secret_key: str, token: str) -> str:
    """Signed-in pages' forms carry a CSRF token bound to the session: it changes at sign-in."""
    return csrf_token(secret_key, f"portal-session:{token}")


# --- signing in and out -------------------------------------------------------------------------


class SignInLimiter:
    """Sign-in attempts per client and per e-mail address (the same for addresses with no user)."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        per_client: str = SIGN_IN_LIMIT_PER_CLIENT,
        per_email: str = SIGN_IN_LIMIT_PER_EMAIL,
    ) -> None:
        self.per_client = RateLimiter(per_client, storage_uri)
        self.per_email = RateLimiter(per_email, storage_uri)

    async def hit(self, client: str, email: str) -> int | None:
        """Count one attempt; None if it may go ahead, else the seconds to wait."""
        retry_after = await self.per_client.hit("portal_sign_in_client", client)
        if retry_after is None:
            retry_after = await self.per_email.hit("portal_sign_in_email", email)
        return retry_after


SIGN_IN_LIMITER = "portal.sign_in_limiter"


def sign_in_limiter(context: AppContext) -> SignInLimiter:
    """The app's limiter, made on first use (tests may put their own in first)."""
    limiter = context.extras.get(SIGN_IN_LIMITER)
    if not isinstance(limiter, SignInLimiter):
        limiter = SignInLimiter(RateLimitSettings().rate_limit_storage_uri)
        context.extras[SIGN_IN_LIMITER] = limiter
    return limiter


async def sign_in(
    session: AsyncSession,
    context: AppContext,
    *,
    email: str,
    password: str,
    client: str,
    previous_token: str | None = None,
) -> SignedIn:
    """Check the password and open a new session; raises SignInThrottled or SignInRefused."""
    email = email.strip().lower()[:MAX_EMAIL_LENGTH]
    retry_after = await sign_in_limiter(context).hit(client, keyed_hash(context.secret_key, email))
    if retry_after is not None:
        raise SignInThrottled(retry_after)
    user = await organizations_repository.get_user_by_email(session, email) if email else None
    if not _password_matches(user, password):
        raise SignInRefused
    assert user is not None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
    now = utc_now()
    user.last_signed_in_at = now
    if previous_token:
        # A new token at every sign-in: a token planted before sign-in (fixation) is worthless.
        await _end_session(session, context.secret_key, previous_token)
    await repository.delete_expired_portal_sessions(
        session, now=now, idle_since=now - IDLE_TIMEOUT, user_id=user.id
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hmac=_token_hmac(context.secret_key, token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_LIFETIME,
        )
    )
    await session.flush()
    return SignedIn(user=user, token=token)


async def sign_out(session: AsyncSession, context: AppContext, caller: PortalCaller) -> None:
    await repository.delete_portal_session(session, caller.portal_session.id)


def _password_matches(user: User | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        # Without a user, verify against a stand-in hash anyway: the answer takes as long, so its
        # timing does not tell whether the e-mail address has an account.
        return password_hasher.verify(user.password_hash if user else _stand_in_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _stand_in_hash() -> str:
    return password_hasher.hash(secrets.token_urlsafe(16))


async def _end_session(session: AsyncSession, secret_key: str, token: str) -> None:
    found = await repository.get_portal_session(session, _token_hmac(secret_key, token))
    if found is not None:
        await repository.delete_portal_session(session, found[0].id)


# --- who is calling ---------------------------------------------------------------------------


class SessionExpired(Exception):
    """The session ran out (idle or absolute expiry); the periodic clean-up deletes its row."""


async def current_caller(
    session: AsyncSession, context: AppContext, token: str | None, *, now: datetime | None = None
) -> PortalCaller | None:
    """The signed-in caller, or None; raises SessionExpired for a session that has just run out."""
    if token is None:
        return None
    found = await repository.get_portal_session(session, _token_hmac(context.secret_key, token))
    if found is None:
        return None
    portal_session, user, organization = found
    now = now or utc_now()
    if now >= portal_session.expires_at or now - portal_session.last_seen_at >= IDLE_TIMEOUT:
        raise SessionExpired
    if now - portal_session.last_seen_at >= TOUCH_AFTER:
        portal_session.last_seen_at = now
    return PortalCaller(
        user=user,
        organization=organization,
        portal_session=portal_session,
        csrf_token=session_csrf_token(context.secret_key, token),
    )


async def get_portal_caller(
    request: Request, session: SessionDep, context: AppContextDep
) -> PortalCaller:
    next_path = request.url.path if request.method == "GET" else None
    try:
        caller = await current_caller(session, context, session_token(request, context))
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


async def checked_form(
    request: Request,
    expected_csrf: str | None,
    *,
    max_files: int = 0,
    max_fields: int = 50,
    max_part_size: int = 64 * 1024,
) -> FormData:
    """The POSTed form, if it carries the CSRF token its page was given; a 403 page otherwise."""
    form = await request.form(
        max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
    )
    token = form.get(CSRF_FIELD)
    sent = token.encode() if isinstance(token, str) else b""
    if not expected_csrf or not secrets.compare_digest(sent, expected_csrf.encode()):
        raise Forbidden(FORM_EXPIRED)
    return form


def browser_form_ok(secret_key: str, browser: str | None, form: FormData) -> bool:
    """The sign-in form's CSRF check, bound to the browser cookie as on the journey's pages."""
    token = form.get(CSRF_FIELD)
    # compare_digest raises on non-ASCII text; a forged token is simply wrong.
    return isinstance(token, str) and token.isascii() and csrf_ok(secret_key, browser, token)
