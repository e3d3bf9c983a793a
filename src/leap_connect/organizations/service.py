"""Creating organizations, portal users and API keys, and checking API keys."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from leap_connect.kit.broadcast import Broadcast
from leap_connect.kit.colours import palette_warnings
from leap_connect.kit.crypto import Encryptor, generate_token, keyed_hash, token_checksum_ok
from leap_connect.kit.link_rules import RESERVED_NAMES, URL_NAME
from leap_connect.kit.problems import Conflict, NotFound, ValidationFailed
from leap_connect.models import ApiKey, Organization, User, utc_now
from leap_connect.organizations import repository

API_KEY_PREFIX = "lc_live_"
LAST_USED_PRECISION = timedelta(minutes=1)
API_KEY_SCOPES = ("meters:read", "meters:write", "connect:read", "connect:write", "webhooks:manage")
ROLES = ("admin", "member")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

password_hasher = PasswordHasher()


def check_url_name(value: str, what: str) -> str:
    if value in RESERVED_NAMES:
        raise ValidationFailed(f'{what} "{value}" is reserved; choose another.')
    if not URL_NAME.match(value):
        raise ValidationFailed(
            f'{what} "{value}" must be 1–63 lowercase letters, digits and hyphens, '
            "starting and ending with a letter or digit."
        )
    return value


async def create_organization(
    session: AsyncSession,
    encryptor: Encryptor,
    *,
    name: str,
    display_name: str,
    logo_url: str | None = None,
    brand_color: str | None = None,
    support_contact: str | None = None,
) -> tuple[Organization, str]:
    """The new organization and its redirect-signing secret (shown to the partner)."""
    check_url_name(name, "The organization name")
    if not display_name.strip():
        raise ValidationFailed("The display name must not be empty.")
    _check_brand_color(brand_color)
    _check_logo_url(logo_url)
    if await repository.get_organization_by_name(session, name):
        raise Conflict(f'An organization named "{name}" already exists.')
    signing_secret = secrets.token_hex(32)
    organization = Organization(
        name=name,
        display_name=display_name.strip(),
        logo_url=logo_url,
        brand_color=(brand_color or "#1f6feb").lower(),
        support_contact=check_support_contact(support_contact),
        redirect_signing_secret_encrypted=encryptor.encrypt(signing_secret),
    )
    session.add(organization)
    await session.flush()
    return organization, signing_secret


def update_branding(
    organization: Organization,
    *,
    display_name: str | None = None,
    logo_url: str | None = None,
    brand_color: str | None = None,
    support_contact: str | None = None,
) -> None:
    """Change what customers see of the partner; None leaves a value, "" clears the optional
    ones (logo, support contact)."""
    if display_name is not None:
        if not display_name.strip():
            raise ValidationFailed("The display name must not be empty.")
        organization.display_name = display_name.strip()
    if logo_url is not None:
        _check_logo_url(logo_url or None)
        organization.logo_url = logo_url or None
    if brand_color is not None:
        _check_brand_color(brand_color)
        organization.brand_color = brand_color.lower()
    if support_contact is not None:
        organization.support_contact = check_support_contact(support_contact)


def brand_color_warnings(brand_color: str) -> list[str]:
    """What to tell a partner about their brand colour: the shades customer pages draw instead of
    it so that text and focus rings reach WCAG AA contrast (none when it is used as it is)."""
    return palette_warnings(brand_color) if HEX_COLOR.match(brand_color) else []


def check_support_contact(value: str | None) -> str | None:
    """An e-mail address or an https:// URL, trimmed; empty means none."""
    contact = (value or "").strip()
    if not contact:
        return None
    if len(contact) > 2000 or not (EMAIL.match(contact) or _is_https_url(contact)):
        raise ValidationFailed(
            "The support contact must be an e-mail address (help@acme.example) "
            "or a URL starting with https://."
        )
    return contact


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and not any(c.isspace() for c in value)


def _check_brand_color(brand_color: str | None) -> None:
    if brand_color is not None and not HEX_COLOR.match(brand_color):
        raise ValidationFailed(f'The brand colour "{brand_color}" must look like #1f6feb.')


def _check_logo_url(logo_url: str | None) -> None:
    if logo_url is not None and not logo_url.startswith("https://"):
        raise ValidationFailed("The logo URL must start with https://.")


async def require_organization(session: AsyncSession, name: str) -> Organization:
    organization = await repository.get_organization_by_name(session, name)
    if organization is None:
        raise NotFound(f'There is no organization named "{name}".')
    return organization


async def rotate_redirect_signing_secret(encryptor: Encryptor, organization: Organization) -> str:
    signing_secret = secrets.token_hex(32)
    organization.redirect_signing_secret_encrypted = encryptor.encrypt(signing_secret)
    return signing_secret


async def create_user(
    session: AsyncSession,
    *,
    organization: Organization,
    email: str,
    password: str,
    role: str = "admin",
) -> User:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise ValidationFailed(f'"{email}" is not an e-mail address.')
    if role not in ROLES:
        raise ValidationFailed(f'The role must be one of {", ".join(ROLES)}, not "{role}".')
    if len(password) < 12:
        raise ValidationFailed("The password must be at least 12 characters long.")
    if await repository.get_user_by_email(session, email):
        raise Conflict(f"A user with the e-mail {email} already exists.")
    user = User(
        organization_id=organization.id,
        email=email,
        password_hash=password_hasher.hash(password),
        role=role,
    )
    session.add(user)
    await session.flush()
    return user


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    token: str


async def create_api_key(
    session: AsyncSession,
    secret_key: str,
    *,
    organization: Organization,
    scopes: list[str],
    name: str = "API key",
) -> IssuedApiKey:
    """A new key; the token is returned once and only its HMAC is stored."""
    unknown = [scope for scope in scopes if scope not in API_KEY_SCOPES]
    if unknown or not scopes:
        problem = f"Unknown scope {', '.join(unknown)}." if unknown else "Give at least one scope."
        raise ValidationFailed(f"{problem} Scopes: {', '.join(API_KEY_SCOPES)}.")
    token = generate_token(API_KEY_PREFIX)
    api_key = ApiKey(
        organization_id=organization.id,
        name=name,
        token_hint=f"{token[: len(API_KEY_PREFIX) + 4]}…{token[-4:]}",
        token_hmac=keyed_hash(secret_key, token),
        scopes=sorted(set(scopes)),
    )
    session.add(api_key)
    await session.flush()
    return IssuedApiKey(api_key=api_key, token=token)


def revoke_api_key(api_key: ApiKey, broadcast: Broadcast) -> None:
    """The key stops working when the revocation commits: at once in this process, as soon as the
    message arrives in others sharing Redis (`LEAP_CONNECT_REDIS_URL`), and otherwise within
    `VERIFIED_KEY_SECONDS` (they may have verified it just before)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = utc_now()
    token_hmac = api_key.token_hmac
    verified_keys.forget(token_hmac)
    session = object_session(api_key)
    if session is not None:

        def committed(_: object) -> None:
            # A call verified between now and the commit would read the key as still valid; and
            # another process told before the commit could verify it again.
            verified_keys.forget(token_hmac)
            broadcast.publish(REVOKED_API_KEYS_CHANNEL, token_hmac)

        event.listen(session, "after_commit", committed, once=True)


@dataclass(frozen=True, slots=True)
class VerifiedApiKey:
    """What a request needs of the key it came with."""

    id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]


# Each API call looked its key up in the database: a query of its own, as costly as a search.
VERIFIED_KEY_SECONDS = 5.0
# Each revocation's key HMAC, to every process sharing Redis.
REVOKED_API_KEYS_CHANNEL = "leap_connect:revoked_api_keys"


class VerifiedKeys:
    """Keys found valid in the last few seconds, by their HMAC (never the token itself).

    A revocation in this process forgets the key at once, including from a lookup that was under
    way while it happened; another process keeps trusting it until its entry is `seconds` old.
    """

    def __init__(self, seconds: float = VERIFIED_KEY_SECONDS, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self.revocations = 0
        self._entries: dict[str, tuple[float, VerifiedApiKey]] = {}

    def get(self, token_hmac: str) -> VerifiedApiKey | None:
        entry = self._entries.get(token_hmac)
        if entry is None:
            return None
        verified_at, key = entry
        if time.monotonic() - verified_at >= self.seconds:
            del self._entries[token_hmac]
            return None
        return key

    def remember(
        self, token_hmac: str, key: VerifiedApiKey, *, verified_at: float, revocations: int
    ) -> None:
        """Keep `key` if no key was revoked since its lookup began (`revocations` then)."""
        if revocations != self.revocations:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # many keys at once is rare: start over rather than track age
        self._entries[token_hmac] = (verified_at, key)

    def forget(self, token_hmac: str) -> None:
        self.revocations += 1
        self._entries.pop(token_hmac, None)

    def forget_all(self) -> None:
        """After a revocation may have been missed (the messages from other processes stopped)."""
        self.revocations += 1
        self._entries.clear()


verified_keys = VerifiedKeys()


async def listen_for_revoked_api_keys(broadcast: Broadcast) -> None:
    """Forget keys revoked in other processes as soon as they say so (before remembering any)."""
    await broadcast.listen(REVOKED_API_KEYS_CHANNEL, verified_keys.forget, verified_keys.forget_all)


def recently_verified_api_key(secret_key: str, token: str) -> VerifiedApiKey | None:
    """The key if it was found valid in the last `VERIFIED_KEY_SECONDS`: no database needed."""
    if not token_checksum_ok(token, API_KEY_PREFIX):
        return None
    return verified_keys.get(keyed_hash(secret_key, token))


async def authenticate_api_key(
    session: AsyncSession, secret_key: str, token: str
) -> VerifiedApiKey | None:
    """Look the key up (callers ask `recently_verified_api_key` first) and remember it if valid."""
    if not token_checksum_ok(token, API_KEY_PREFIX):
        return None
    token_hmac = keyed_hash(secret_key, token)
    started, revocations = time.monotonic(), verified_keys.revocations
    api_key = await repository.get_api_key_by_hmac(session, token_hmac)
    if api_key is None or api_key.revoked_at is not None:
        return None
    now = utc_now()
    # To the minute: writing it on every call would make each API read a write (and a disk sync).
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        api_key.last_used_at = now
    verified = VerifiedApiKey(api_key.id, api_key.organization_id, frozenset(api_key.scopes))
    verified_keys.remember(token_hmac, verified, verified_at=started, revocations=revocations)
    return verified
