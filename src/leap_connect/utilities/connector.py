"""The connector interface: the only door to a utility, whatever protocol it speaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from leap_connect.utilities.registry import Utility


class ConnectorError(Exception):
    """The utility refused or failed; `code` is what the attempt records (e.g. `utility_down`)."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What the connector needs to send a customer to the utility."""

    state: str
    code_verifier: str
    redirect_uri: str


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


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime
    duration_seconds: int
    kwh: float


class Connector(Protocol):
    utility: Utility
    # True when the utility may list an authorization's meters only later (`pending_meters`).
    reports_meters_later: bool

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

    async def revoke(self, tokens: Tokens) -> None: ...

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]: ...
