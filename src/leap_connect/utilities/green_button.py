"""Green Button Connect My Data: the ESPI OAuth 2.0 connector for PG&E, SCE and SDG&E."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from leap_connect.kit.http import HttpClientFactory
from leap_connect.models import utc_now
from leap_connect.utilities import espi
from leap_connect.utilities.calls import get_limited, utility_call
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    ConnectorError,
    DiscoveredMeter,
    Interval,
    PendingMeters,
    ServiceAddress,
    Tokens,
)
from leap_connect.utilities.registry import Utility

DEFAULT_SCOPE = (
    "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
)
MAX_FEED_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class GreenButtonEndpoints:
    authorize_url: str
    token_url: str
    revoke_url: str | None
    client_id: str
    client_secret: str
    scope: str = DEFAULT_SCOPE
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None


class GreenButtonConnector:
    # A data custodian lists the subscription's usage points with the token, never later.
    reports_meters_later = False

    def __init__(
        self, utility: Utility, endpoints: GreenButtonEndpoints, http: HttpClientFactory
    ) -> None:
        self.utility = utility
        self.endpoints = endpoints
        self.http = http

    def authorization_url(self, start: AuthorizationStart) -> str:
        url: str = prepare_grant_uri(
            self.endpoints.authorize_url,
            self.endpoints.client_id,
            "code",
            redirect_uri=start.redirect_uri,
            scope=self.endpoints.scope,
            state=start.state,
            code_challenge=create_s256_code_challenge(start.code_verifier),
            code_challenge_method="S256",
        )
        return url

    async def complete(
        self, start: AuthorizationStart, params: Mapping[str, str]
    ) -> AuthorizationResult:
        error = params.get("error")
        if error:
            raise ConnectorError(
                error if error in KNOWN_ERRORS else "authorization_failed",
                params.get("error_description") or KNOWN_ERRORS.get(error, error),
            )
        code = params.get("code")
        if not code:
            raise ConnectorError("invalid_request", "The utility sent no authorization code.")
        # One client for the token exchange and the feeds, so they share its connection: one
        # TCP (and, at a real utility, mutual TLS) handshake per callback instead of three.
        async with self._client() as client:
            token = await self._token_request(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": start.redirect_uri,
                    "code_verifier": start.code_verifier,
                },
            )
            tokens = _tokens(token)
            resource_uri = _optional_str(token.get("resourceURI"))
            if not resource_uri:
                raise ConnectorError(
                    "token_exchange_failed", "The token response has no resourceURI."
                )
            meters = await self._discover_meters(
                client, tokens, resource_uri, _optional_str(token.get("customerResourceURI"))
            )
        return AuthorizationResult(
            tokens=tokens,
            utility_authorization_ref=_optional_str(token.get("authorizationURI")),
            resource_uri=resource_uri,
            meters=meters,
        )

    async def pending_meters(self, utility_authorization_ref: str) -> PendingMeters:
        raise ConnectorError(
            "not_supported", f"{self.utility.name} lists its meters with the authorization."
        )

    def webhook_is_signed(self, headers: Mapping[str, str], body: bytes) -> bool:
        return False  # Green Button custodians notify by BatchList, not by signed webhooks

    async def refresh(self, tokens: Tokens) -> Tokens:
        if not tokens.refresh_token:
            raise ConnectorError("refresh_failed", "There is no refresh token.")
        async with self._client() as client:
            token = await self._token_request(
                client, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
            )
        refreshed = _tokens(token)
        if refreshed.refresh_token is None:
            return Tokens(
                refreshed.access_token, tokens.refresh_token, refreshed.expires_at, refreshed.scope
            )
        return refreshed

    async def revoke(self, tokens: Tokens) -> None:
        if not self.endpoints.revoke_url:
            return
        async with self._client() as client:
            response = await client.post(
                self.endpoints.revoke_url,
                data={"token": tokens.refresh_token or tokens.access_token},
                headers={"Authorization": self._basic_auth()},
            )
        if response.status_code >= 400:
            raise ConnectorError("revoke_failed", f"The utility answered {response.status_code}.")

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]:
        async with self._client() as client:
            feed = await self._get_feed(
                client,
                tokens,
                batch_url(usage_point_uri),
                params={"published-min": _espi_time(start), "published-max": _espi_time(end)},
            )
        intervals = [
            Interval(reading.start, reading.duration_seconds, float(reading.kwh))
            for usage_point in feed.usage_points
            for meter_reading in usage_point.meter_readings
            for reading in meter_reading.interval_readings
            if reading.kwh is not None and start <= reading.start < end
        ]
        return sorted(intervals, key=lambda interval: interval.start)

    # --- server-to-server calls -----------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        return self.http.client(
            client_cert=self.endpoints.client_cert,
            client_key=self.endpoints.client_key,
            ca_bundle=self.endpoints.ca_bundle,
        )

    def _basic_auth(self) -> str:
        # RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
        user = quote(self.endpoints.client_id, safe="")
        password = quote(self.endpoints.client_secret, safe="")
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def _token_request(
        self, client: httpx.AsyncClient, form: dict[str, str]
    ) -> dict[str, Any]:
        async with utility_call(self.utility.name, self.http.timeout):
            response = await client.post(
                self.endpoints.token_url,
                data=form,
                headers={"Authorization": self._basic_auth(), "Accept": "application/json"},
            )
        if response.status_code >= 500:
            raise ConnectorError(
                "utility_down", f"The utility answered {response.status_code}.", retryable=True
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else f"HTTP {response.status_code}"
            raise ConnectorError("token_exchange_failed", f"The token exchange failed: {detail}.")
        if not isinstance(body.get("access_token"), str):
            raise ConnectorError("token_exchange_failed", "The token response has no access token.")
        return body

    async def _get_feed(
        self,
        client: httpx.AsyncClient,
        tokens: Tokens,
        url: str,
        params: Mapping[str, str] | None = None,
    ) -> espi.EspiFeed:
        body = await get_limited(
            self.http,
            client,
            url,
            utility_name=self.utility.name,
            limit=MAX_FEED_BYTES,
            params=params,
            headers={
                "Authorization": f"Bearer {tokens.access_token}",
                "Accept": "application/atom+xml",
            },
        )
        try:
            return espi.parse_feed(body)
        except espi.EspiParseError as error:
            raise ConnectorError(
                "invalid_response", f"The utility sent bad data: {error}"
            ) from None

    async def _discover_meters(
        self,
        client: httpx.AsyncClient,
        tokens: Tokens,
        resource_uri: str,
        customer_resource_uri: str | None,
    ) -> tuple[DiscoveredMeter, ...]:
        # The usage points alone: a year of readings in the Batch feed would be megabytes.
        feed = await self._get_feed(client, tokens, usage_points_url(resource_uri))
        customer = (
            await self._get_feed(client, tokens, customer_resource_uri)
            if customer_resource_uri
            else None
        )
        return tuple(_discovered_meters(feed, customer))


KNOWN_ERRORS = {
    "access_denied": "You declined to share your data.",
    "invalid_request": "The utility could not read the request.",
    "unauthorized_client": "The utility does not know this application.",
    "invalid_scope": "The utility refused the requested data scope.",
    "server_error": "The utility had an error.",
    "temporarily_unavailable": "The utility is temporarily unavailable.",
}


def _discovered_meters(
    feed: espi.EspiFeed, customer: espi.EspiFeed | None
) -> list[DiscoveredMeter]:
    locations = list(customer.service_locations) if customer else []
    accounts = list(customer.customer_accounts) if customer else []
    customers = list(customer.customers) if customer else []
    meters = []
    for index, usage_point in enumerate(feed.usage_points):
        location = _location_for(usage_point, locations, index)
        address = location.address if location else None
        meters.append(
            DiscoveredMeter(
                utility_meter_id=usage_point.usage_point_id,
                usage_point_uri=usage_point.self_link,
                electric_service_account_number=accounts[0].account_id if accounts else None,
                utility_meter_serial_number=_serial_number(usage_point, location),
                service_point_id=usage_point.usage_point_id,
                tariff=usage_point.tariff_profile,
                customer_name=customers[0].name if customers else None,
                address=ServiceAddress(
                    street_1=address.street_1 if address else None,
                    street_2=address.street_2 if address else None,
                    city=address.city if address else None,
                    state_or_province_code=address.state_or_province if address else None,
                    postal_code=address.postal_code if address else None,
                ),
            )
        )
    return meters


def _location_for(
    usage_point: espi.UsagePoint, locations: list[espi.ServiceLocation], index: int
) -> espi.ServiceLocation | None:
    for location in locations:
        if usage_point.usage_point_id in location.usage_point_ids:
            return location
    if len(locations) == 1:
        return locations[0]
    return None


def usage_points_url(resource_uri: str) -> str:
    """`.../Batch/Subscription/{id}` → `.../Subscription/{id}/UsagePoint` (ESPI resource paths)."""
    return (
        resource_uri.replace("/Batch/Subscription/", "/Subscription/").rstrip("/") + "/UsagePoint"
    )


def batch_url(usage_point_uri: str) -> str:
    """`.../Subscription/{id}/UsagePoint/{id}` → its Batch form, which includes the readings."""
    head, separator, tail = usage_point_uri.rpartition("/Subscription/")
    if not separator or head.endswith("/Batch"):
        return usage_point_uri
    return f"{head}/Batch/Subscription/{tail}"


def _serial_number(
    usage_point: espi.UsagePoint, location: espi.ServiceLocation | None
) -> str | None:
    if location is None or not location.meter_serial_numbers:
        return None
    ids = location.usage_point_ids
    if len(location.meter_serial_numbers) == len(ids) and usage_point.usage_point_id in ids:
        # Locations list their usage points and meters in step.
        index = location.usage_point_ids.index(usage_point.usage_point_id)
        return location.meter_serial_numbers[index]
    return location.meter_serial_numbers[0]


def _tokens(token: Mapping[str, Any]) -> Tokens:
    expires_in = token.get("expires_in")
    expires_at = (
        utc_now() + timedelta(seconds=int(expires_in))
        if isinstance(expires_in, int | float | str) and str(expires_in).isdigit()
        else None
    )
    return Tokens(
        access_token=str(token["access_token"]),
        refresh_token=_optional_str(token.get("refresh_token")),
        expires_at=expires_at,
        scope=_optional_str(token.get("scope")),
    )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _espi_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
