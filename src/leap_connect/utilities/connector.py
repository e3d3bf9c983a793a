"""The connector interface: the only door to a utility, whatever protocol it speaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from leap_connect.utilities.registry import Utility


class ConnectorError(Exception):
    """The utility refused or failed; `code` is what the attempt records (e.g. `utility_down`)."""

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the utility asked us to wait (its `Retry-After`), when it said."""


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What the connector needs to send a customer to the utility."""

    state: str
    code_verifier: str
    redirect_uri: str
    # Until when the flow wishes the customer's permission to last (PG&E's PreferredAuthEndDate).
    wished_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    street_1: str | None = None
    street_2: str | None = None
    city: str | None = None
    state_or_province_code: str | None = None
    postal_code: str | None = None
    country_code: str | None = "US"


@dataclass(frozen=True, slots=True)
class DiscoveredMeter:
    utility_meter_id: str
    usage_point_uri: str | None = None
    electric_service_account_number: str | None = None
    """The service agreement ID (SAID): what Leap calls it in CAISO."""
    customer_account_number: str | None = None
    """The customer's account (billing) number, which may hold several service agreements."""
    service_class: str | None = None
    """UtilityAPI's service class ("residential", "commercial", …), when it says."""
    utility_meter_serial_number: str | None = None
    service_point_id: str | None = None
    tariff: str | None = None
    customer_name: str | None = None
    address: ServiceAddress = field(default_factory=ServiceAddress)


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str | None


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    tokens: Tokens | None
    utility_authorization_ref: str | None
    resource_uri: str | None
    meters: tuple[DiscoveredMeter, ...]
    meters_pending: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingMeters:
    """What a utility lists for an authorization now: its meters (maybe none yet), or revoked."""

    meters: tuple[DiscoveredMeter, ...]
    revoked: bool = False


Direction = Literal["delivered", "received", "net"]


@dataclass(frozen=True, slots=True)
class Grant:
    """A customer's standing permission at the utility, as a connector needs to name it."""

    utility_authorization_ref: str | None  # ESPI authorizationURI, UtilityAPI uid
    tokens: Tokens | None


@dataclass(frozen=True, slots=True)
class GrantStatus:
    """What the utility says of a grant now: ACTIVE, REVOKED or EXPIRED, and until when."""

    status: Literal["ACTIVE", "REVOKED", "EXPIRED"]
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Interval:
    """One reading of one series: a direction of flow, an interval length and a unit."""

    start: datetime
    duration_seconds: int
    value: float
    """In `unit`, after the utility's scaling; received energy is positive."""
    direction: Direction = "delivered"
    interval_seconds: int = 0
    """The series' interval length; 0 means `duration_seconds`."""
    unit: str = "kWh"

    @property
    def series_seconds(self) -> int:
        return self.interval_seconds or self.duration_seconds


DataStatus = Literal["COLLECTING", "READY", "FAILED"]


@runtime_checkable
class HistoryCollector(Protocol):
    """A utility that gathers a meter's history only when asked (UtilityAPI), then keeps it fresh.

    Meters are named by their `usage_point_uri`."""

    @property
    def webhooks_configured(self) -> bool:
        """Whether the utility tells us by webhook when a collection has finished."""
        ...

    async def start_collection(self, usage_point_uris: Sequence[str]) -> None:
        """Ask for each meter's history and for its ongoing monitoring; asking twice is harmless."""
        ...

    async def collection_states(self, usage_point_uris: Sequence[str]) -> dict[str, DataStatus]:
        """Where each meter's collection stands; a meter the utility no longer lists is absent."""
        ...


class Connector(Protocol):
    utility: Utility
    # True when the utility may list an authorization's meters only later (`pending_meters`).
    reports_meters_later: bool

    @property
    def ends_previous_grant(self) -> bool:
        """Whether the utility ends a customer's previous grant itself when they authorize again."""
        ...

    def authorization_url(self, start: AuthorizationStart) -> str: ...

    async def complete(
        self, start: AuthorizationStart, params: Mapping[str, str]
    ) -> AuthorizationResult: ...

    async def pending_meters(self, utility_authorization_ref: str) -> PendingMeters:
        """Ask again for the meters of an authorization that completed with none listed."""
        ...

    def webhook_is_signed(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a webhook the utility posted carries this connector's valid signature."""
        ...

    async def refresh(self, tokens: Tokens) -> Tokens: ...

    async def revoke(self, grant: Grant) -> None:
        """End the grant at the utility; a grant already ended there is no error."""
        ...

    async def grant_status(self, grant: Grant) -> GrantStatus:
        """Ask the utility whether the grant still stands, and until when."""
        ...

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]: ...
