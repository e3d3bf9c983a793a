"""Portal sign-in as a service: passwords, server-side sessions, their CSRF tokens, attempt limits.

The browser holds a random token (in the cookie `portal/deps.py` sets); the `portal_sessions` table
keeps only its HMAC, so a copy of the database signs nobody in. A session ends after `IDLE_TIMEOUT`
without a request, after `ABSOLUTE_LIFETIME` whatever happens, or when its user signs out.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.crypto import keyed_hash
from leap_connect.kit.csrf import csrf_token
from leap_connect.kit.ratelimit import RateLimiter, RateLimitSettings
from leap_connect.models import Organization, PortalSession, User, utc_now
from leap_connect.organizations import repository as organizations_repository
from leap_connect.organizations.service import password_hasher
from leap_connect.portal import repository
from leap_connect.runtime import Runtime

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
# Recording every request's time would be a write per page; a minute's precision is plenty.
TOUCH_AFTER = timedelta(minutes=1)

# Attempts, successful or not, in a moving window; beyond them sign-in answers 429.
SIGN_IN_LIMIT_PER_CLIENT = "30 per 10 minutes"
SIGN_IN_LIMIT_PER_CLIENT_AND_EMAIL = "10 per 15 minutes"
# Wrong passwords for one address from anywhere; beyond them every attempt at it waits first.
SIGN_IN_FAILURES_PER_EMAIL = "10 per 15 minutes"
SLOW_DOWN_SECONDS = 3.0
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 1000

SIGN_IN_FAILED = "The e-mail address or the password is not right. Please check both and try again."


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


def _token_hmac(secret_key: str, token: str) -> str:
    return keyed_hash(secret_key, f"portal-session:{token}")


def session_csrf_token(secret_key: str, token: str) -> str:
    """Signed-in pages' forms carry a CSRF token bound to the session: it changes at sign-in."""
    return csrf_token(secret_key, f"portal-session:{token}")


# --- signing in and out -------------------------------------------------------------------------


class SignInLimiter:
    """Sign-in attempts per client and per client and e-mail address, and failures per address.

    One client guessing, at one account or at many, is refused (429) past its limits. Guesses at
    one account spread over many clients are not refused, since that would let anyone lock the
    real user out: past the account's failure limit, every attempt at it waits `slow_down`
    seconds before its password is checked, and the right password still signs in.
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        per_client: str = SIGN_IN_LIMIT_PER_CLIENT,
        per_client_and_email: str = SIGN_IN_LIMIT_PER_CLIENT_AND_EMAIL,
        failures_per_email: str = SIGN_IN_FAILURES_PER_EMAIL,
        slow_down: float = SLOW_DOWN_SECONDS,
    ) -> None:
        self.per_client = RateLimiter(per_client, storage_uri, exact=True)
        self.per_client_and_email = RateLimiter(per_client_and_email, storage_uri, exact=True)
        self.failures_per_email = RateLimiter(failures_per_email, storage_uri, exact=True)
        self.slow_down = slow_down

    async def hit(self, client: str, email: str) -> int | None:
        """Count one attempt; None if it may go ahead, else the seconds to wait."""
        retry_after = await self.per_client.hit("portal_sign_in_client", client)
        if retry_after is None:
            retry_after = await self.per_client_and_email.hit(
                "portal_sign_in_client_email", f"{client}|{email}"
            )
        return retry_after

    async def wait_if_targeted(self, email: str) -> None:
        """Slow an attempt down when its account has had too many wrong passwords of late."""
        if await self.failures_per_email.spent("portal_sign_in_failures", email):
            await asyncio.sleep(self.slow_down)

    async def failed(self, email: str) -> None:
        await self.failures_per_email.hit("portal_sign_in_failures", email)


def sign_in_limiter(runtime: Runtime) -> SignInLimiter:
    """The process's limiter, made on first use (tests may put their own in first)."""
    return runtime.keep(
        SignInLimiter, lambda: SignInLimiter(RateLimitSettings().rate_limit_storage_uri)
    )


async def sign_in(
    session: AsyncSession,
    runtime: Runtime,
    *,
    email: str,
    password: str,
    client: str,
    previous_token: str | None = None,
) -> SignedIn:
    """Check the password and open a new session; raises SignInThrottled or SignInRefused."""
    email = email.strip().lower()[:MAX_EMAIL_LENGTH]
    limiter = sign_in_limiter(runtime)
    account = keyed_hash(runtime.secret_key, email)
    retry_after = await limiter.hit(client, account)
    if retry_after is not None:
        raise SignInThrottled(retry_after)
    await limiter.wait_if_targeted(account)
    user = await organizations_repository.get_user_by_email(session, email) if email else None
    if not _password_matches(user, password):
        await limiter.failed(account)
        raise SignInRefused
    assert user is not None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
    now = utc_now()
    user.last_signed_in_at = now
    if previous_token:
        # A new token at every sign-in: a token planted before sign-in (fixation) is worthless.
        await _end_session(session, runtime.secret_key, previous_token)
    await repository.delete_expired_portal_sessions(
        session, now=now, idle_since=now - IDLE_TIMEOUT, user_id=user.id
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hmac=_token_hmac(runtime.secret_key, token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_LIFETIME,
        )
    )
    await session.flush()
    return SignedIn(user=user, token=token)


async def sign_out(session: AsyncSession, runtime: Runtime, caller: PortalCaller) -> None:
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
    session: AsyncSession, runtime: Runtime, token: str | None, *, now: datetime | None = None
) -> PortalCaller | None:
    """The signed-in caller, or None; raises SessionExpired for a session that has just run out."""
    if token is None:
        return None
    found = await repository.get_portal_session(session, _token_hmac(runtime.secret_key, token))
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
        csrf_token=session_csrf_token(runtime.secret_key, token),
    )
