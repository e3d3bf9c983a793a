"""The sandbox data custodian's OAuth 2.0 rules and its state (codes, grants, tokens) in memory."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import unquote_plus, urlsplit

from leap_connect.sandbox.customers import (
    SANDBOX_PASSWORD,
    SUPPORTED_UTILITY_IDS,
    Behaviour,
    CustomerProfile,
    SandboxCustomer,
    customer_profile,
    data_window,
    known_customer,
    sandbox_customer,
)
from leap_connect.sandbox.espi_writer import AuthorizationView, ResourceUrls
from leap_connect.utilities.sandbox_access import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

ACCESS_TOKEN_SECONDS = 3600
# How long a customer's consent lasts (ESPI authorizedPeriod); refresh stops working after it.
AUTHORIZED_PERIOD = timedelta(days=365)
# A client_credentials token is the client's own (ESPI "data custodian") access: it reads the
# Authorization resources of its grants, never customer data.
CLIENT_ACCESS_SCOPE = "FB=3_35_36_37_41_44"
# What the `partial` customer leaves unticked: demand and usage summaries (ESPI function blocks).
PARTIAL_WITHHELD_FUNCTION_BLOCKS = frozenset({5, 15, 16})
RETRY_AFTER_SECONDS = 120
# What a PG&E grant shares: fixed at the third party's registration, not asked for per request.
PGE_REGISTERED_SCOPE = (
    "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=daily;HistoryLength=126144000"
)
# PG&E's MinAuthEndDate and PreferredAuthEndDate are 64-bit signed integers of epoch seconds.
_AUTH_END_DATE = re.compile(r"-?\d{1,19}")

_SCOPE = re.compile(r"FB=(\d+(?:_\d+)*)((?:;[A-Za-z][A-Za-z0-9]*=[A-Za-z0-9._\-]+)*)")
# RFC 7636 §4.1: 43 to 128 unreserved characters; a S256 challenge is always 43.
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def utc_now() -> datetime:
    return datetime.now(UTC)


class CustodianMode(StrEnum):
    """Which authorization endpoint the custodian plays."""

    # The ESPI standard with PKCE: an `FB=…` scope, code_challenge S256 required.
    ESPI = "espi"
    # PG&E's Share My Data: scope `MinAuthEndDate=…;PreferredAuthEndDate=…` only, optional
    # state, `login=guest`, no PKCE; a bad response_type or scope is redirected back as
    # invalid_request; a new grant cancels the customer's previous one.
    PGE = "pge"


def default_mode(utility_id: str) -> CustodianMode:
    """Each sandbox utility plays its real counterpart: PG&E in PG&E's mode, others standard."""
    return CustodianMode.PGE if utility_id == "pge" else CustodianMode.ESPI


@dataclass(frozen=True, slots=True)
class AuthEndDates:
    """PG&E's scope: the shortest and the preferred end of the customer's authorization."""

    minimum: datetime
    preferred: datetime


def parse_auth_end_dates(text: str, *, now: datetime) -> AuthEndDates | str:
    """PG&E's scope, or why it is invalid: exactly MinAuthEndDate and PreferredAuthEndDate,
    epoch seconds, in the future, the minimum not after the preferred."""
    values: dict[str, int] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals or name not in ("MinAuthEndDate", "PreferredAuthEndDate"):
            return (
                "scope must be MinAuthEndDate=<epoch seconds>;PreferredAuthEndDate=<epoch seconds>"
            )
        if name in values:
            return f"{name} is repeated"
        if not _AUTH_END_DATE.fullmatch(value) or not -(2**63) <= int(value) < 2**63:
            return f"{name} must be a whole number of epoch seconds"
        values[name] = int(value)
    if set(values) != {"MinAuthEndDate", "PreferredAuthEndDate"}:
        return "scope needs both MinAuthEndDate and PreferredAuthEndDate"
    try:
        minimum = datetime.fromtimestamp(values["MinAuthEndDate"], UTC)
        preferred = datetime.fromtimestamp(values["PreferredAuthEndDate"], UTC)
    except (OverflowError, OSError, ValueError):
        return "MinAuthEndDate and PreferredAuthEndDate must be real dates"
    if minimum <= now:
        return "MinAuthEndDate must be in the future"
    if preferred < minimum:
        return "PreferredAuthEndDate must not be before MinAuthEndDate"
    return AuthEndDates(minimum, preferred)


def _hash(token: str) -> str:
    # Codes and tokens are looked up by their hash, so a memory dump shows none of them.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]  # exact match only
    client_name: str = ""

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id


def sandbox_client(
    redirect_uris: Sequence[str], *, client_name: str = "Leap Connect"
) -> RegisteredClient:
    """The built-in client, registered with the redirect URIs of the instance that uses it."""
    return RegisteredClient(
        SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, tuple(redirect_uris), client_name
    )


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer of the token or revocation endpoint."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status_code: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class UntrustedRedirectError(Exception):
    """The authorization request names no registered client or redirect URI: never redirect."""


class AuthorizationRequestError(Exception):
    """An authorization request error the client is told about, at its redirect URI (§4.1.2.1)."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.error = error
        self.description = description
        self.state = state


@dataclass(frozen=True, slots=True)
class Scope:
    """An ESPI scope: `FB=1_3_4;IntervalDuration=3600;...` (function blocks, then parameters)."""

    function_blocks: tuple[int, ...]
    parameters: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        text = "FB=" + "_".join(str(block) for block in self.function_blocks)
        return text + "".join(f";{name}={value}" for name, value in self.parameters)

    def parameter(self, name: str) -> str | None:
        return next((value for key, value in self.parameters if key == name), None)


def parse_scope(text: str) -> Scope | None:
    match = _SCOPE.fullmatch(text)
    if match is None:
        return None
    blocks = tuple(dict.fromkeys(int(block) for block in match.group(1).split("_")))
    parameters = tuple(
        (name, value)
        for name, _, value in (part.partition("=") for part in match.group(2).split(";") if part)
    )
    return Scope(blocks, parameters)


def narrowed_scope(requested: Scope) -> Scope:
    """What the `partial` customer grants: the request without demand and usage summaries, or,
    when it asked for none of those, without its last function block (smaller whenever it can)."""
    kept = tuple(b for b in requested.function_blocks if b not in PARTIAL_WITHHELD_FUNCTION_BLOCKS)
    if kept == requested.function_blocks and len(kept) > 1:
        kept = kept[:-1]
    return Scope(kept or requested.function_blocks[:1], requested.parameters)


def pkce_challenge(code_verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: RegisteredClient
    redirect_uri: str
    scope: str
    state: str | None  # optional at PG&E
    code_challenge: str | None  # None in PG&E's mode, which has no PKCE
    login: str | None = None  # PG&E's `login=guest`
    auth_end_dates: AuthEndDates | None = None  # PG&E's scope, read

    def hidden_fields(self) -> dict[str, str]:
        """The request as the consent form carries it back (the POST validates it all again)."""
        fields = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
        }
        if self.state is not None:
            fields["state"] = self.state
        if self.code_challenge is not None:
            fields["code_challenge"] = self.code_challenge
            fields["code_challenge_method"] = "S256"
        if self.login is not None:
            fields["login"] = self.login
        return fields


@dataclass(slots=True)
class _AuthorizationCode:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    requested_scope: str
    username: str
    expires_at: datetime
    authorized_until: datetime | None = None  # PG&E: the customer's chosen end
    used: bool = False
    authorization_id: str | None = None


@dataclass(slots=True)
class Grant:
    """One customer's consent to one client: an ESPI Authorization with its Subscription."""

    authorization_id: str
    subscription_id: str
    client_id: str
    username: str
    scope: str
    created_at: datetime
    updated_at: datetime
    access_token_expires_at: datetime
    # The end of the customer's consent (ESPI authorizedPeriod); refresh stops working after it.
    authorized_until: datetime
    active: bool = True
    refresh_token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AccessToken:
    client_id: str
    scope: str
    expires_at: datetime
    grant: Grant | None  # None: a client_credentials token, the client's own access


class DataCustodian:
    """One sandbox utility's authorization server and resource server state."""

    def __init__(
        self,
        utility_id: str,
        *,
        public_base_url: str,
        clients: Sequence[RegisteredClient],
        code_lifetime: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = utc_now,
        slow_seconds: float = 5.0,
        mode: CustodianMode = CustodianMode.ESPI,
    ) -> None:
        if utility_id not in SUPPORTED_UTILITY_IDS:
            raise ValueError(f"no sandbox Green Button custodian for utility {utility_id!r}")
        parts = urlsplit(public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                f"public_base_url must be an absolute http(s) URL: {public_base_url!r}"
            )
        for client in clients:
            for uri in client.redirect_uris:
                parts = urlsplit(uri)
                # RFC 6749 §3.1.2: absolute, and without a fragment.
                if not parts.scheme or not parts.netloc or parts.fragment:
                    raise ValueError(
                        f"redirect URI of {client.client_id} must be absolute: {uri!r}"
                    )
        self.utility_id = utility_id
        self.mode = mode
        self.public_base_url = public_base_url.rstrip("/")
        self.clients: dict[str, RegisteredClient] = {c.client_id: c for c in clients}
        self.code_lifetime = code_lifetime
        self.clock = clock
        self.slow_seconds = slow_seconds
        self.urls = ResourceUrls(f"{self.public_base_url}/espi/1_1/resource")
        self._codes: dict[str, _AuthorizationCode] = {}
        self._grants: dict[str, Grant] = {}
        self._subscriptions: dict[str, Grant] = {}
        self._access_tokens: dict[str, AccessToken] = {}
        self._refresh_tokens: dict[str, str] = {}  # token hash -> authorization id

    # --- authorization endpoint ---------------------------------------------------------------

    def check_authorization_request(
        self, params: Mapping[str, Sequence[str]]
    ) -> AuthorizationRequest:
        """Validate an authorization request in RFC 6749 §4.1.2.1's order: first what decides
        whether redirecting is safe (client and exact redirect URI), then everything else."""
        repeated = sorted(name for name, values in params.items() if len(values) > 1)

        def one(name: str) -> str | None:
            values = params.get(name, ())
            return values[0] if len(values) == 1 and values[0] else None

        if "client_id" in repeated or "redirect_uri" in repeated:
            raise UntrustedRedirectError("The request repeats its client_id or redirect_uri.")
        client_id = one("client_id")
        client = self.clients.get(client_id) if client_id else None
        if client is None:
            raise UntrustedRedirectError(
                "The application that sent you here is not registered with this utility."
            )
        redirect_uri = one("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise UntrustedRedirectError(
                "The address this application asked to return you to is not one it registered."
            )
        state = one("state")

        def fail(error: str, description: str) -> AuthorizationRequestError:
            return AuthorizationRequestError(redirect_uri, error, description, state)

        if repeated:
            raise fail("invalid_request", f"repeated parameters: {', '.join(repeated)}")
        if self.mode is CustodianMode.PGE:
            return self._check_pge_request(client, redirect_uri, state, one, fail)
        if state is None:
            raise fail("invalid_request", "state is required")
        response_type = one("response_type")
        if response_type is None:
            raise fail("invalid_request", "response_type is required")
        if response_type != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        scope = one("scope")
        if scope is None:
            raise fail("invalid_request", "scope is required")
        if parse_scope(scope) is None:
            raise fail("invalid_scope", "scope must be an ESPI scope such as FB=1_3_4_5_13_14_39")
        code_challenge = one("code_challenge")
        if code_challenge is None:
            raise fail("invalid_request", "PKCE is required: code_challenge is missing")
        if one("code_challenge_method") != "S256":
            raise fail("invalid_request", "PKCE code_challenge_method must be S256")
        if not _CODE_CHALLENGE.fullmatch(code_challenge):
            raise fail("invalid_request", "code_challenge must be 43 base64url characters")
        return AuthorizationRequest(client, redirect_uri, scope, state, code_challenge)

    def _check_pge_request(
        self,
        client: RegisteredClient,
        redirect_uri: str,
        state: str | None,
        one: Callable[[str], str | None],
        fail: Callable[[str, str], AuthorizationRequestError],
    ) -> AuthorizationRequest:
        """PG&E answers every other fault as invalid_request at the redirect URI: a missing or
        wrong response_type, and a scope that is not its two end dates."""
        if one("response_type") != "code":
            raise fail("invalid_request", "response_type must be code")
        scope = one("scope")
        if scope is None:
            raise fail(
                "invalid_request", "scope with MinAuthEndDate and PreferredAuthEndDate is required"
            )
        dates = parse_auth_end_dates(scope, now=self.clock())
        if isinstance(dates, str):
            raise fail("invalid_request", dates)
        return AuthorizationRequest(
            client, redirect_uri, scope, state, None, login=one("login"), auth_end_dates=dates
        )

    def authenticate_customer(self, username: str, password: str) -> SandboxCustomer | None:
        customer = sandbox_customer(username)
        password_ok = hmac.compare_digest(password.encode(), SANDBOX_PASSWORD.encode())
        return customer if customer is not None and password_ok else None

    def issue_code(self, request: AuthorizationRequest, customer: SandboxCustomer) -> str:
        self._forget_expired()
        code = secrets.token_urlsafe(32)
        self._codes[_hash(code)] = _AuthorizationCode(
            client_id=request.client.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            requested_scope=request.scope,
            username=customer.username,
            expires_at=self.clock() + self.code_lifetime,
            # The sandbox customer accepts the preferred end; a real one may pick another
            # between the minimum and it.
            authorized_until=(request.auth_end_dates.preferred if request.auth_end_dates else None),
        )
        return code

    def _forget_expired(self) -> None:
        """Drop what can no longer be used, so a long-running sandbox does not grow without end.
        A code is kept one lifetime past its expiry so a replay still revokes its grant."""
        now = self.clock()
        for key, record in list(self._codes.items()):
            if now >= record.expires_at + self.code_lifetime:
                del self._codes[key]
        for key, access in list(self._access_tokens.items()):
            if now >= access.expires_at:
                del self._access_tokens[key]

    # --- token endpoint -----------------------------------------------------------------------

    def authenticate_client(self, authorization: str | None) -> RegisteredClient:
        """HTTP Basic client authentication (RFC 6749 §2.3.1); the only method accepted."""
        scheme, _, credentials = (authorization or "").partition(" ")
        client: RegisteredClient | None = None
        if scheme.lower() == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, colon, secret = decoded.partition(":")
            # §2.3.1: the id and secret are form-urlencoded before Base64.
            candidate = self.clients.get(unquote_plus(client_id)) if colon else None
            if candidate is not None and hmac.compare_digest(
                unquote_plus(secret).encode(), candidate.client_secret.encode()
            ):
                client = candidate
        if client is None:
            raise OAuthError(
                "invalid_client",
                "client authentication failed: use HTTP Basic with a registered client",
                status_code=401,
                headers={"WWW-Authenticate": f'Basic realm="{self.utility_id}"'},
            )
        return client

    async def token(
        self, client: RegisteredClient, form: Mapping[str, Sequence[str]]
    ) -> dict[str, object]:
        def single(name: str) -> str | None:
            values = form.get(name, ())
            if len(values) > 1:
                raise OAuthError("invalid_request", f"the {name} parameter is repeated")
            return values[0] if values and values[0] != "" else None

        body_client_id = single("client_id")
        if body_client_id is not None and body_client_id != client.client_id:
            raise OAuthError("invalid_request", "client_id does not match the authenticated client")
        grant_type = single("grant_type")
        if grant_type == "authorization_code":
            return await self._exchange_code(
                client, single("code"), single("redirect_uri"), single("code_verifier")
            )
        if grant_type == "refresh_token":
            return self._refresh(client, single("refresh_token"), single("scope"))
        if grant_type == "client_credentials":
            return self._client_credentials(client, single("scope"))
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported")

    async def _exchange_code(
        self,
        client: RegisteredClient,
        code: str | None,
        redirect_uri: str | None,
        code_verifier: str | None,
    ) -> dict[str, object]:
        pkce = self.mode is not CustodianMode.PGE
        if code is None or redirect_uri is None or (pkce and code_verifier is None):
            required = "code, redirect_uri and code_verifier" if pkce else "code and redirect_uri"
            raise OAuthError("invalid_request", f"{required} are required")
        record = self._codes.get(_hash(code))
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the authorization code is not valid")
        behaviour = known_customer(record.username).behaviour
        if behaviour is Behaviour.UTILITY_DOWN:
            # A utility that is down answers nothing else: the code stays unused.
            raise OAuthError(
                "temporarily_unavailable",
                f"{self.utility_id} is temporarily unavailable, try again later",
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if behaviour is Behaviour.SLOW:
            await asyncio.sleep(self.slow_seconds)
        if record.used:
            # RFC 6749 §4.1.2: a code used twice may have been stolen, so the grant made with it
            # is revoked too.
            if record.authorization_id is not None:
                self._revoke_grant(self._grants[record.authorization_id])
            raise OAuthError("invalid_grant", "the authorization code was already used")
        # Any presentation by its client uses the code up, so a wrong guess of the verifier or the
        # redirect URI cannot be retried.
        record.used = True
        if self.clock() >= record.expires_at:
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if record.code_challenge is not None and (
            code_verifier is None
            or not _CODE_VERIFIER.fullmatch(code_verifier)
            or not hmac.compare_digest(pkce_challenge(code_verifier), record.code_challenge)
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")

        # PG&E shares what the third party registered for; ESPI what the request asked for.
        requested = parse_scope(
            PGE_REGISTERED_SCOPE if self.mode is CustodianMode.PGE else record.requested_scope
        )
        assert requested is not None  # checked at the authorization endpoint
        granted = narrowed_scope(requested) if behaviour is Behaviour.PARTIAL_SCOPE else requested
        now = self.clock()
        if self.mode is CustodianMode.PGE:
            # Authorizing again cancels the customer's previous subscription with this client.
            for previous in self.grants_for_client(client.client_id):
                if previous.username == record.username:
                    self._revoke_grant(previous)
        grant = Grant(
            authorization_id=str(secrets.randbelow(9 * 10**9) + 10**9),
            subscription_id=str(secrets.randbelow(9 * 10**9) + 10**9),
            client_id=client.client_id,
            username=record.username,
            scope=str(granted),
            created_at=now,
            updated_at=now,
            access_token_expires_at=now,
            authorized_until=record.authorized_until or now + AUTHORIZED_PERIOD,
        )
        self._grants[grant.authorization_id] = grant
        self._subscriptions[grant.subscription_id] = grant
        record.authorization_id = grant.authorization_id
        return self._issue_tokens(grant)

    def _refresh(
        self, client: RegisteredClient, refresh_token: str | None, scope: str | None
    ) -> dict[str, object]:
        if refresh_token is None:
            raise OAuthError("invalid_request", "refresh_token is required")
        authorization_id = self._refresh_tokens.get(_hash(refresh_token))
        grant = self._grants.get(authorization_id) if authorization_id else None
        if grant is None or not grant.active or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token is not valid")
        if self.clock() >= grant.authorized_until:
            raise OAuthError("invalid_grant", "the authorization has expired")
        if scope is not None and scope != grant.scope:
            raise OAuthError("invalid_scope", "a refresh can only keep the granted scope")
        return self._issue_tokens(grant)

    def _client_credentials(self, client: RegisteredClient, scope: str | None) -> dict[str, object]:
        if scope is not None and parse_scope(scope) is None:
            raise OAuthError("invalid_scope", "scope must be an ESPI scope such as FB=3_35_36")
        token = secrets.token_urlsafe(32)
        granted = scope or CLIENT_ACCESS_SCOPE
        expires_at = self.clock() + timedelta(seconds=ACCESS_TOKEN_SECONDS)
        self._access_tokens[_hash(token)] = AccessToken(client.client_id, granted, expires_at, None)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": granted,
            "authorizationURI": self.urls.authorizations(),
        }

    def _issue_tokens(self, grant: Grant) -> dict[str, object]:
        """A new access token and a new refresh token; the previous refresh token stops working
        (rotation), so a client must keep the one it was last given."""
        access_token, refresh_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = now + timedelta(seconds=ACCESS_TOKEN_SECONDS)
        self._access_tokens[_hash(access_token)] = AccessToken(
            grant.client_id, grant.scope, expires_at, grant
        )
        if grant.refresh_token_hash is not None:
            self._refresh_tokens.pop(grant.refresh_token_hash, None)
        grant.refresh_token_hash = _hash(refresh_token)
        self._refresh_tokens[grant.refresh_token_hash] = grant.authorization_id
        grant.access_token_expires_at = expires_at
        grant.updated_at = now
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh_token,
            "scope": grant.scope,
            "resourceURI": self.urls.subscription_batch(grant.subscription_id),
            "authorizationURI": self.urls.authorization(grant.authorization_id),
            "customerResourceURI": self.customer_resource_uri(grant),
        }

    # --- revocation endpoint (RFC 7009) -------------------------------------------------------

    def revoke(self, client: RegisteredClient, token: str | None) -> None:
        """Revoke the grant behind an access or refresh token (a client token: just that token)."""
        if token is None:
            raise OAuthError("invalid_request", "token is required")
        token_hash = _hash(token)
        authorization_id = self._refresh_tokens.get(token_hash)
        access = self._access_tokens.get(token_hash)
        grant = self._grants.get(authorization_id) if authorization_id else None
        if grant is None and access is not None:
            grant = access.grant
        owner = grant.client_id if grant is not None else access.client_id if access else None
        if owner is None:
            return  # §2.2: an unknown or already invalid token is not an error
        if owner != client.client_id:
            raise OAuthError("invalid_request", "the token was not issued to this client")
        if grant is not None:
            self._revoke_grant(grant)
        else:
            del self._access_tokens[token_hash]

    def delete_authorization(self, access: AccessToken, authorization_id: str) -> bool:
        """ESPI's DELETE of an Authorization: its client (with its own token, or the grant's)
        ends the grant. False when the token may not; an unknown or ended grant is no error."""
        grant = self._grants.get(authorization_id)
        if grant is None:
            return True
        if grant.client_id != access.client_id or access.grant not in (None, grant):
            return False
        self._revoke_grant(grant)
        return True

    def revoke_by_customer(self, username: str, authorization_id: str) -> bool:
        """The customer stops sharing on the utility's own site; False when not theirs."""
        grant = self._grants.get(authorization_id)
        if grant is None or grant.username != username:
            return False
        self._revoke_grant(grant)
        return True

    def grants_of_customer(self, username: str) -> list[Grant]:
        return [grant for grant in self._grants.values() if grant.username == username]

    def _revoke_grant(self, grant: Grant) -> None:
        if not grant.active:
            return
        grant.active = False
        grant.updated_at = self.clock()
        if grant.refresh_token_hash is not None:
            self._refresh_tokens.pop(grant.refresh_token_hash, None)
            grant.refresh_token_hash = None

    # --- resource server ----------------------------------------------------------------------

    def access(self, token: str) -> AccessToken | None:
        """The valid access token, or None when unknown, expired, or its grant is revoked."""
        access = self._access_tokens.get(_hash(token))
        if access is None or self.clock() >= access.expires_at:
            return None
        if access.grant is not None and not access.grant.active:
            return None
        return access

    def grant_for_subscription(self, subscription_id: str) -> Grant | None:
        return self._subscriptions.get(subscription_id)

    def grant(self, authorization_id: str) -> Grant | None:
        return self._grants.get(authorization_id)

    def grants_for_client(self, client_id: str) -> list[Grant]:
        return [grant for grant in self._grants.values() if grant.client_id == client_id]

    def profile(self, grant: Grant) -> CustomerProfile:
        return customer_profile(self.utility_id, grant.username)

    def customer_resource_uri(self, grant: Grant) -> str:
        return self.urls.retail_customer_batch(self.profile(grant).retail_customer_id)

    def authorization_view(self, grant: Grant) -> AuthorizationView:
        history_start, history_end = data_window(self.clock())
        return AuthorizationView(
            authorization_id=grant.authorization_id,
            active=grant.active,
            scope=grant.scope,
            grant_type="authorization_code",
            authorized_start=grant.created_at,
            # In whole epoch seconds, as the resource carries them, so start + duration is the end.
            authorized_seconds=int(grant.authorized_until.timestamp())
            - int(grant.created_at.timestamp()),
            published_start=history_start,
            published_seconds=int((history_end - history_start).total_seconds()),
            expires_at=grant.access_token_expires_at,
            resource_uri=self.urls.subscription_batch(grant.subscription_id),
            authorization_uri=self.urls.authorization(grant.authorization_id),
            customer_resource_uri=self.customer_resource_uri(grant),
            published=grant.created_at,
            updated=grant.updated_at,
        )
