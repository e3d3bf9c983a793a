"""What each Green Button utility expects of an authorization request, as data per utility.

Utilities that share the ESPI standard still differ in what their authorization endpoint takes.
PG&E's Share My Data, per its published authorization details, takes `client_id`,
`redirect_uri`, `response_type=code`, an optional `state`, `login=guest` (so customers without an
online account can sign in with their account and phone numbers), and a `scope` that carries only
`MinAuthEndDate` and `PreferredAuthEndDate` in epoch seconds: the data shared is fixed at
registration and chosen by the customer on PG&E's screen, and an invalid scope is sent back as
`invalid_request`. It exchanges the code with HTTP Basic client authentication over mutual TLS,
takes no PKCE, and cancels a customer's previous subscription when they authorize again.

SCE and SDG&E publish no deviation from the standard: an ESPI `FB=…` scope. We add PKCE (RFC 7636)
there, which an OAuth 2.0 server that does not know it ignores (RFC 6749 §3.1).

Every field can be changed per utility with `LEAP_CONNECT_UTILITIES__<ID>__…` (settings.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from leap_connect.settings import UtilitySettings

# Function blocks 1, 3, 4, 5, 13, 14, 39: common data, interval metering, demand, retail customer.
DEFAULT_ESPI_SCOPE = (
    "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
)
# What a flow asks for when it does not say: a year of ongoing access.
DEFAULT_AUTHORIZATION_DAYS = 365


class ScopeFormat(StrEnum):
    ESPI = "espi"  # FB=…;IntervalDuration=…: the data asked for, in ESPI function blocks
    AUTH_END_DATES = "auth_end_dates"  # MinAuthEndDate=…;PreferredAuthEndDate=… (PG&E)
    NONE = "none"  # no scope parameter at all


class TokenAuth(StrEnum):
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - RFC 6749 §2.3.1, HTTP Basic
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - id and secret in the form


class Revocation(StrEnum):
    # ESPI: DELETE of the grant's Authorization resource with the client's own access token.
    ESPI_AUTHORIZATION = "espi_authorization"
    # RFC 7009: the refresh token POSTed to the revocation endpoint.
    TOKEN = "token"  # noqa: S105 - a method's name, not a secret


@dataclass(frozen=True, slots=True)
class RequestProfile:
    """How one utility's authorization request, token calls and revocation are made."""

    scope_format: ScopeFormat = ScopeFormat.ESPI
    espi_scope: str = DEFAULT_ESPI_SCOPE
    pkce: bool = True
    # Sent as they are with every authorization request, e.g. (("login", "guest"),).
    authorization_parameters: tuple[tuple[str, str], ...] = ()
    token_auth: TokenAuth = TokenAuth.CLIENT_SECRET_BASIC
    # The utility refuses calls without our client certificate; production refuses to start
    # without one configured.
    mutual_tls: bool = False
    revocation: Revocation = Revocation.ESPI_AUTHORIZATION
    # The shortest authorization the partner accepts (PG&E's MinAuthEndDate), never longer than
    # the one wished for.
    minimum_authorization_days: int = 30
    # The utility ends the previous grant itself when the same customer authorizes again.
    ends_previous_grant: bool = False

    def scope(self, *, now: datetime, wished_end: datetime | None) -> str | None:
        """The `scope` parameter of an authorization request made at `now`."""
        if self.scope_format is ScopeFormat.NONE:
            return None
        if self.scope_format is ScopeFormat.ESPI:
            return self.espi_scope
        preferred = wished_end or now + timedelta(days=DEFAULT_AUTHORIZATION_DAYS)
        minimum = min(preferred, now + timedelta(days=self.minimum_authorization_days))
        return (
            f"MinAuthEndDate={int(minimum.timestamp())};"
            f"PreferredAuthEndDate={int(preferred.timestamp())}"
        )


STANDARD_ESPI = RequestProfile()
PGE = RequestProfile(
    scope_format=ScopeFormat.AUTH_END_DATES,
    pkce=False,
    authorization_parameters=(("login", "guest"),),
    mutual_tls=True,
    ends_previous_grant=True,
)
DEFAULT_PROFILES: dict[str, RequestProfile] = {
    "pge": PGE,
    "sce": STANDARD_ESPI,
    "sdge": STANDARD_ESPI,
}


def request_profile(utility_id: str, configured: UtilitySettings) -> RequestProfile:
    """The utility's published defaults, with whatever the configuration sets instead."""
    profile = DEFAULT_PROFILES.get(utility_id, STANDARD_ESPI)
    changes: dict[str, object] = {}
    if configured.scope_format is not None:
        changes["scope_format"] = ScopeFormat(configured.scope_format)
    if configured.scope:
        changes["espi_scope"] = configured.scope
    if configured.pkce is not None:
        changes["pkce"] = configured.pkce
    if configured.authorization_parameters is not None:
        changes["authorization_parameters"] = parse_parameters(configured.authorization_parameters)
    if configured.token_auth is not None:
        changes["token_auth"] = TokenAuth(configured.token_auth)
    if configured.mutual_tls is not None:
        changes["mutual_tls"] = configured.mutual_tls
    if configured.revocation is not None:
        changes["revocation"] = Revocation(configured.revocation)
    if configured.ends_previous_grant is not None:
        changes["ends_previous_grant"] = configured.ends_previous_grant
    return dataclasses.replace(profile, **changes) if changes else profile  # type: ignore[arg-type]


def parse_parameters(text: str) -> tuple[tuple[str, str], ...]:
    """`login=guest&prompt=x` (or empty) as pairs; a part without `=` is refused."""
    pairs = []
    for part in text.split("&"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"authorization_parameters: {part!r} is not name=value")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)
