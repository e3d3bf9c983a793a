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
import structlog
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from leap_connect.kit.http import HttpClientFactory
from leap_connect.models import utc_now
from leap_connect.utilities import espi
from leap_connect.utilities.calls import check_data_response, get_limited, utility_call
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    ConnectorError,
    DiscoveredMeter,
    Grant,
    GrantStatus,
    Interval,
    PendingMeters,
    ServiceAddress,
    Tokens,
)
from leap_connect.utilities.espi_authorization import EspiAuthorization, parse_authorization
from leap_connect.utilities.espi_time import local_day_window
from leap_connect.utilities.profiles import STANDARD_ESPI, RequestProfile, Revocation, TokenAuth
from leap_connect.utilities.registry import Utility

MAX_FEED_BYTES = 20 * 1024 * 1024
log = structlog.get_logger("leap_connect.utilities.green_button")


@dataclass(frozen=True, slots=True)
class GreenButtonEndpoints:
    authorize_url: str
    token_url: str
    revoke_url: str | None
    client_id: str
    client_secret: str
    profile: RequestProfile = STANDARD_ESPI
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
        # Each meter's LocalTimeParameters, from its last feed: where its local days begin.
        self._local_time: dict[str, espi.LocalTimeParameters] = {}

    @property
    def ends_previous_grant(self) -> bool:
        return self.endpoints.profile.ends_previous_grant

    def authorization_url(self, start: AuthorizationStart) -> str:
        """The request the utility's profile asks for: its scope format, PKCE or not, and its
        extra parameters (PG&E: `login=guest`)."""
        profile = self.endpoints.profile
        extra: dict[str, str] = dict(profile.authorization_parameters)
        if profile.pkce:
            extra["code_challenge"] = create_s256_code_challenge(start.code_verifier)
            extra["code_challenge_method"] = "S256"
        url: str = prepare_grant_uri(
            self.endpoints.authorize_url,
            self.endpoints.client_id,
            "code",
            redirect_uri=start.redirect_uri,
            scope=profile.scope(now=utc_now(), wished_end=start.wished_end),
            state=start.state,
            **extra,
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
                    **(
                        {"code_verifier": start.code_verifier}
                        if self.endpoints.profile.pkce
                        else {}
                    ),
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
            authorization_uri = _optional_str(token.get("authorizationURI"))
            granted = await self._read_granted(client, authorization_uri)
        return AuthorizationResult(
            tokens=tokens,
            utility_authorization_ref=authorization_uri,
            resource_uri=resource_uri,
            meters=meters,
            expires_at=granted.authorized_end if granted else None,
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

    async def revoke(self, grant: Grant) -> None:
        """ESPI: DELETE the grant's Authorization resource with the client's own token; or, where
        the profile says so, RFC 7009 revocation of its refresh token."""
        async with self._client() as client:
            if self.endpoints.profile.revocation is Revocation.TOKEN:
                response = await self._revoke_token(client, grant)
            else:
                if not grant.utility_authorization_ref:
                    raise ConnectorError("revoke_failed", "The grant has no authorizationURI.")
                headers = {"Authorization": f"Bearer {await self._client_token(client)}"}
                async with utility_call(self.utility.name, self.http.timeout):
                    response = await client.delete(grant.utility_authorization_ref, headers=headers)
        # 404: the utility no longer knows the grant, which is what revoking it asks for.
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorError(
                "utility_down", f"The utility answered {response.status_code}.", retryable=True
            )
        if response.status_code >= 400 and response.status_code != 404:
            raise ConnectorError("revoke_failed", f"The utility answered {response.status_code}.")

    async def grant_status(self, grant: Grant) -> GrantStatus:
        """The grant's ESPI Authorization, read with the client's own token: revoked or denied,
        expired once its authorizedPeriod is over, otherwise active until then."""
        if not grant.utility_authorization_ref:
            raise ConnectorError("invalid_response", "The grant has no authorizationURI.")
        async with self._client() as client:
            granted = await self._read_authorization(client, grant.utility_authorization_ref)
        if granted is None or not granted.active:
            return GrantStatus("REVOKED")
        end = granted.authorized_end
        if end is not None and end <= utc_now():
            return GrantStatus("EXPIRED", end)
        return GrantStatus("ACTIVE", end)

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]:
        """The readings that start in `[start, end)`, asked for by the utility's local days.

        A custodian returns only IntervalBlocks wholly inside `published-min`/`published-max`,
        and its blocks follow its local days; so the window asked for is whole local days (by the
        LocalTimeParameters of the meter's last feed) with a day to spare on each side.
        """
        published_min, published_max = local_day_window(
            start, end, self._local_time.get(usage_point_uri)
        )
        async with self._client() as client:
            feed = await self._get_feed(
                client,
                tokens,
                batch_url(usage_point_uri),
                params={
                    "published-min": _espi_time(published_min),
                    "published-max": _espi_time(published_max),
                },
            )
        parameters = next(
            (p.local_time_parameters for p in feed.usage_points if p.local_time_parameters),
            feed.local_time_parameters[0] if feed.local_time_parameters else None,
        )
        if parameters is not None:
            self._local_time[usage_point_uri] = parameters
        try:
            every_series = [
                series
                for usage_point in feed.usage_points
                for series in espi.usage_point_series(usage_point)
            ]
        except espi.EspiParseError as error:
            raise ConnectorError(
                "invalid_response", f"The utility sent bad data: {error}"
            ) from None
        intervals = [
            Interval(
                reading.start,
                reading.duration_seconds,
                float(reading.amount),
                direction=series.direction,
                interval_seconds=series.interval_seconds,
                unit=series.unit,
            )
            for series in every_series
            for reading in series.readings
            if start <= reading.start < end
        ]
        return sorted(intervals, key=lambda interval: interval.start)

    # --- server-to-server calls -----------------------------------------------------------------

    async def _revoke_token(self, client: httpx.AsyncClient, grant: Grant) -> httpx.Response:
        if not self.endpoints.revoke_url or grant.tokens is None:
            raise ConnectorError("revoke_failed", "There is no revocation endpoint or token.")
        token = grant.tokens.refresh_token or grant.tokens.access_token
        async with utility_call(self.utility.name, self.http.timeout):
            return await client.post(
                self.endpoints.revoke_url,
                data={"token": token},
                headers={"Authorization": self._basic_auth()},
            )

    async def _client_token(self, client: httpx.AsyncClient) -> str:
        """The client's own access token (`client_credentials`), for Authorization resources."""
        token = await self._token_request(client, {"grant_type": "client_credentials"})
        return str(token["access_token"])

    async def _read_authorization(
        self, client: httpx.AsyncClient, authorization_uri: str
    ) -> EspiAuthorization | None:
        """The Authorization resource; None when the utility no longer knows it (404)."""
        headers = {
            "Authorization": f"Bearer {await self._client_token(client)}",
            "Accept": "application/atom+xml",
        }
        async with utility_call(self.utility.name, self.http.timeout):
            response = await client.get(authorization_uri, headers=headers)
        if response.status_code == 404:
            return None
        check_data_response(self.utility.name, response)
        try:
            return parse_authorization(response.content)
        except espi.EspiParseError as error:
            raise ConnectorError(
                "invalid_response", f"The utility sent a bad Authorization: {error}"
            ) from None

    async def _read_granted(
        self, client: httpx.AsyncClient, authorization_uri: str | None
    ) -> EspiAuthorization | None:
        """At the callback, how long the customer granted: worth knowing, never worth failing
        their authorization over (the daily check reads it again)."""
        if authorization_uri is None:
            return None
        try:
            return await self._read_authorization(client, authorization_uri)
        except ConnectorError as error:
            log.warning(
                "authorization_period_unread", utility_id=self.utility.utility_id, error=error.code
            )
            return None

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
        headers = {"Accept": "application/json"}
        if self.endpoints.profile.token_auth is TokenAuth.CLIENT_SECRET_POST:
            form = {
                **form,
                "client_id": self.endpoints.client_id,
                "client_secret": self.endpoints.client_secret,
            }
        else:
            headers["Authorization"] = self._basic_auth()
        async with utility_call(self.utility.name, self.http.timeout):
            response = await client.post(self.endpoints.token_url, data=form, headers=headers)
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
                electric_service_account_number=usage_point.customer_agreement,
                customer_account_number=accounts[0].account_id if accounts else None,
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
