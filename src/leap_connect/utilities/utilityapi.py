"""UtilityAPI: the authorization-form connector for ConEd, O&RU and PSEG Long Island.

UtilityAPI has no per-customer OAuth token: Connect reads every authorization with its own API
token. So the "access token" this connector hands back is the UtilityAPI authorization `uid`, the
one thing `revoke` needs; it is not a secret, but it is stored like any other token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from leap_connect.kit.http import HttpClientFactory
from leap_connect.utilities.calls import get_limited, retry_after_seconds, utility_call
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    ConnectorError,
    DataStatus,
    DiscoveredMeter,
    Grant,
    GrantStatus,
    Interval,
    PendingMeters,
    ServiceAddress,
    Tokens,
)
from leap_connect.utilities.registry import Utility

API_PREFIX = "/api/v2"
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
MAX_INTERVAL_PAGES = 50
MAX_METER_PAGES = 20
# Meters per historical-collection and ongoing-monitoring request.
COLLECTION_BATCH = 100
# Demand response needs yesterday's readings: UtilityAPI refreshes a monitored meter this often.
MONITORING_FREQUENCY = "daily"
# Meter notes that say a finished collection got nothing: UtilityAPI documents `access_invalid`
# ("access credentials did not work") on meters.
FAILURE_NOTES = frozenset({"access_invalid"})
# A 503 from the referral lookup is often gone a moment later: ask again before failing a customer.
LOOKUP_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.5)

# What UtilityAPI's form may send back in `error`, in the customer's words.
FORM_ERRORS: dict[str, str] = {
    "access_denied": "You declined to share your data.",
    "access_invalid": "The utility did not accept the account details you entered.",
    "access_locked": "Your online account at the utility is locked.",
    "access_unsupported": "This kind of utility account cannot share its data this way.",
    "invalid_request": "The authorization request was not valid.",
    "utility_down": "The utility's website is not answering.",
    "temporarily_unavailable": "UtilityAPI is temporarily unavailable.",
    "server_error": "UtilityAPI had an error.",
}
RETRYABLE_ERRORS = frozenset({"utility_down", "temporarily_unavailable", "server_error"})


@dataclass(frozen=True, slots=True)
class UtilityApiEndpoints:
    """Where UtilityAPI is: its form URL (`.../authorize/{form}`), the API's root, and our keys."""

    form_url: str
    api_base_url: str  # e.g. https://utilityapi.com; the connector adds /api/v2/...
    api_token: str
    webhook_secret: str | None = None


SALT_HEADER = "X-UtilityAPI-Webhook-Salt"
SIGNATURE_HEADER = "X-UtilityAPI-Webhook-Signature"


class UtilityApiConnector:
    # UtilityAPI often lists an authorization's meters minutes after the customer authorized.
    reports_meters_later = True
    # A new authorization at UtilityAPI leaves the customer's earlier one standing.
    ends_previous_grant = False

    def __init__(
        self,
        utility: Utility,
        endpoints: UtilityApiEndpoints,
        http: HttpClientFactory,
        *,
        lookup_retry_delays: Sequence[float] = LOOKUP_RETRY_DELAYS,
    ) -> None:
        self.utility = utility
        self.endpoints = endpoints
        self.http = http
        self.lookup_retry_delays = tuple(lookup_retry_delays)

    @property
    def utility_code(self) -> str:
        """How UtilityAPI names this utility in its `utility` fields."""
        return self.utility.short_name

    def authorization_url(self, start: AuthorizationStart) -> str:
        query = urlencode(
            {"utility": self.utility_code, "redirect_uri": start.redirect_uri, "state": start.state}
        )
        separator = "&" if urlsplit(self.endpoints.form_url).query else "?"
        return f"{self.endpoints.form_url}{separator}{query}"

    async def complete(
        self, start: AuthorizationStart, params: Mapping[str, str]
    ) -> AuthorizationResult:
        error = params.get("error")
        if error:
            raise form_error(error, params.get("error_description"))
        referral = params.get("referral")
        if not referral:
            raise ConnectorError("invalid_request", "UtilityAPI sent you back without a referral.")
        authorization = await self._authorization_for_referral(referral)
        uid = _text(authorization.get("uid"))
        if uid is None:
            raise ConnectorError("invalid_response", "UtilityAPI's authorization has no uid.")
        if authorization.get("is_declined") is True:
            raise ConnectorError("access_denied", FORM_ERRORS["access_denied"])
        if authorization.get("is_revoked") is True:
            raise ConnectorError("access_revoked", "This authorization was revoked at UtilityAPI.")
        chosen = _text(authorization.get("utility"))
        if chosen is not None and chosen.upper() != self.utility_code.upper():
            raise ConnectorError(
                "wrong_utility",
                f"You authorized {chosen} at UtilityAPI, not {self.utility.name}.",
            )
        meters = await self._all_meters(authorization.get("meters"))
        return AuthorizationResult(
            tokens=Tokens(
                access_token=uid,
                refresh_token=None,
                expires_at=None,
                scope=granted_scope(authorization.get("scope")),
            ),
            utility_authorization_ref=uid,
            resource_uri=self._api_url(f"/authorizations/{uid}"),
            meters=meters,
            meters_pending=not meters,
            expires_at=_time(authorization.get("expires")),
        )

    def webhook_is_signed(self, headers: Mapping[str, str], body: bytes) -> bool:
        secret = self.endpoints.webhook_secret
        return bool(secret) and webhook_signature_ok(
            [secret or ""], headers.get(SALT_HEADER), headers.get(SIGNATURE_HEADER), body
        )

    async def pending_meters(self, utility_authorization_ref: str) -> PendingMeters:
        """Ask UtilityAPI again for the meters of an authorization that had none yet."""
        body = await self._get_json(
            self._api_url(f"/authorizations/{utility_authorization_ref}"),
            # Some utilities' meters lack their `base` block unless it is asked for.
            {"include": "meters", "expand_meter_blocks": "true"},
        )
        if body.get("is_revoked") is True or body.get("is_declined") is True:
            return PendingMeters(meters=(), revoked=True)
        return PendingMeters(await self._all_meters(body.get("meters")))

    async def refresh(self, tokens: Tokens) -> Tokens:
        return tokens  # nothing expires but the authorization itself

    async def revoke(self, grant: Grant) -> None:
        uid = grant.utility_authorization_ref or (grant.tokens.access_token if grant.tokens else "")
        if not uid:
            raise ConnectorError("revoke_failed", "The grant has no UtilityAPI authorization uid.")
        try:
            async with asyncio.timeout(self.http.timeout), self.http.client() as client:
                response = await client.post(
                    self._api_url(f"/authorizations/{uid}/revoke"), headers=self._headers()
                )
        except (TimeoutError, httpx.HTTPError):
            raise ConnectorError(
                "utility_down", "UtilityAPI could not be reached.", retryable=True
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorError(
                "utility_down", f"UtilityAPI answered {response.status_code}.", retryable=True
            )
        # 404: UtilityAPI no longer knows the authorization, which is what revoking asks for.
        if response.status_code >= 400 and response.status_code != 404:
            raise ConnectorError("revoke_failed", f"UtilityAPI answered {response.status_code}.")

    async def grant_status(self, grant: Grant) -> GrantStatus:
        """The authorization as UtilityAPI lists it: revoked (or declined), expired, or active
        until its `expires`."""
        uid = grant.utility_authorization_ref
        if not uid:
            raise ConnectorError("invalid_response", "The grant has no UtilityAPI uid.")
        body = await self._get_json(self._api_url(f"/authorizations/{uid}"), None)
        return grant_status_of(body)

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]:
        """Readings of one meter; `usage_point_uri` is the meter's API URL, ending in its uid."""
        url: str | None = self._api_url("/intervals")
        params: dict[str, str] | None = {
            "meters": meter_uid(usage_point_uri),
            "start": start.astimezone(UTC).isoformat(),
            "end": end.astimezone(UTC).isoformat(),
        }
        intervals: list[Interval] = []
        for _ in range(MAX_INTERVAL_PAGES):
            if url is None:
                break
            body = await self._get_json(url, params)
            intervals += intervals_in_listing(body, start, end)
            url = self._next_page(body.get("next"))
            params = None  # the `next` URL carries the query
        return sorted(intervals, key=lambda interval: interval.start)

    # --- data collection -------------------------------------------------------------------------

    @property
    def webhooks_configured(self) -> bool:
        return bool(self.endpoints.webhook_secret)

    async def start_collection(self, usage_point_uris: Sequence[str]) -> None:
        """Ask UtilityAPI to collect each meter's history and then to keep it fresh, in batches.

        Until `historical-collection` is asked for, UtilityAPI serves a meter no intervals.
        Asking again collects only what is missing, so a retried batch costs nothing twice.
        """
        uids = list(dict.fromkeys(meter_uid(uri) for uri in usage_point_uris))
        for first in range(0, len(uids), COLLECTION_BATCH):
            batch = uids[first : first + COLLECTION_BATCH]
            await self._post_json(self._api_url("/meters/historical-collection"), {"meters": batch})
            await self._post_json(
                self._api_url("/meters/ongoing-monitoring"),
                {"meters": batch, "frequency": MONITORING_FREQUENCY},
            )

    async def collection_states(self, usage_point_uris: Sequence[str]) -> dict[str, DataStatus]:
        by_uid = {meter_uid(uri): uri for uri in usage_point_uris}
        states: dict[str, DataStatus] = {}
        uids = list(by_uid)
        for first in range(0, len(uids), COLLECTION_BATCH):
            batch = uids[first : first + COLLECTION_BATCH]
            body = await self._get_json(self._api_url("/meters"), {"uids": ",".join(batch)})
            for meter in body.get("meters") or []:
                uid = _text(meter.get("uid")) if isinstance(meter, dict) else None
                if uid in by_uid and isinstance(meter, dict):
                    states[by_uid[uid]] = collection_state(meter)
        return states

    # --- server-to-server calls -----------------------------------------------------------------

    def _api_url(self, path: str) -> str:
        return f"{self.endpoints.api_base_url.rstrip('/')}{API_PREFIX}{path}"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.endpoints.api_token}",
            "Accept": "application/json",
        }

    def _next_page(self, value: object) -> str | None:
        # Only follow a `next` link to the API we trust with our token.
        text = _text(value)
        return text if text and text.startswith(self._api_url("/")) else None

    async def _all_meters(self, listing: object) -> tuple[DiscoveredMeter, ...]:
        """The meters of an `include=meters` listing and of the pages its `next` links to."""
        pages = [listing]
        url = self._next_page(listing.get("next")) if isinstance(listing, dict) else None
        while url is not None and len(pages) < MAX_METER_PAGES:
            page = await self._get_json(url, None)
            pages.append(page)
            url = self._next_page(page.get("next"))
        items = [
            item
            for page in pages
            if isinstance(page, dict) and isinstance(page.get("meters"), list)
            for item in page["meters"]
        ]
        return meters_in_listing({"meters": items}, self._api_url("/meters"))

    async def _authorization_for_referral(self, referral: str) -> dict[str, Any]:
        url = self._api_url("/authorizations")
        params = {"referrals": referral, "include": "meters"}
        for delay in self.lookup_retry_delays:
            try:
                body = await self._get_json(url, params)
            except ConnectorError as error:
                if not error.retryable:
                    raise
                await asyncio.sleep(delay)
            else:
                break
        else:
            body = await self._get_json(url, params)
        found = body.get("authorizations")
        if not isinstance(found, list) or not found or not isinstance(found[0], dict):
            raise ConnectorError(
                "invalid_referral", "UtilityAPI does not know the authorization you made."
            )
        authorization: dict[str, Any] = found[0]
        return authorization

    async def _post_json(self, url: str, body: Mapping[str, Any]) -> None:
        async with (
            utility_call("UtilityAPI", self.http.timeout),
            self.http.client() as client,
        ):
            response = await client.post(url, json=body, headers=self._headers())
        if response.status_code in (200, 202):  # done, or accepted to be done
            return
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectorError(
                "utility_down",
                f"UtilityAPI answered {response.status_code}.",
                retryable=True,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        error = _api_error(response)
        if response.status_code == 402:
            # Collecting costs money: once the account is paid up, asking again succeeds.
            raise ConnectorError(
                "payment_required", "UtilityAPI wants payment to collect data.", retryable=True
            )
        if error == "expired_or_revoked":
            raise ConnectorError("access_revoked", "UtilityAPI says the authorization has ended.")
        raise ConnectorError(
            "collection_refused",
            f"UtilityAPI refused the collection ({response.status_code} {error or 'error'}).",
        )

    async def _get_json(self, url: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        try:
            async with self.http.client() as client:
                body = await get_limited(
                    self.http,
                    client,
                    url,
                    utility_name="UtilityAPI",
                    limit=MAX_RESPONSE_BYTES,
                    params=params,
                    headers=self._headers(),
                )
        except ConnectorError as error:
            if error.code != "access_refused":
                raise
            # Every call carries our own API token: a refusal is about it, not a customer's grant
            # (UtilityAPI tells of revocations by webhook).
            raise ConnectorError("data_request_failed", error.message) from None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ConnectorError("invalid_response", "UtilityAPI sent something other than JSON.")
        return document


# --- what UtilityAPI sends, read without I/O ------------------------------------------------------


def grant_status_of(authorization: Mapping[str, Any]) -> GrantStatus:
    expires = _time(authorization.get("expires"))
    if authorization.get("is_revoked") is True or authorization.get("is_declined") is True:
        return GrantStatus("REVOKED", expires)
    if authorization.get("is_expired") is True:
        return GrantStatus("EXPIRED", expires)
    return GrantStatus("ACTIVE", expires)


def meter_uid(usage_point_uri: str) -> str:
    """The UtilityAPI meter uid a meter's `usage_point_uri` (`.../api/v2/meters/{uid}`) ends in."""
    return usage_point_uri.rstrip("/").rsplit("/", 1)[-1]


def collection_state(meter: Mapping[str, Any]) -> DataStatus:
    """Where a meter's data collection stands, from its `is_activated`, `status` and `notes`.

    A collection runs while the meter's status is "pending"; once activated and no longer pending
    it has finished, and failed when a note says the utility refused its access.
    """
    if meter.get("is_activated") is not True or meter.get("status") == "pending":
        return "COLLECTING"
    notes = meter.get("notes")
    kinds = (
        {note.get("type") for note in notes if isinstance(note, dict)}
        if isinstance(notes, list)
        else set()
    )
    return "FAILED" if kinds & FAILURE_NOTES else "READY"


def _api_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return _text(body.get("error")) if isinstance(body, dict) else None


def form_error(error: str, description: str | None) -> ConnectorError:
    """The `error` the authorization form redirected back with, as the attempt records it."""
    code = error if error in FORM_ERRORS else "authorization_failed"
    message = FORM_ERRORS.get(error) or (description or error)[:500]
    return ConnectorError(code, message, retryable=code in RETRYABLE_ERRORS)


def granted_scope(scope: object) -> str | None:
    """What the customer shared, as UtilityAPI's `scope` object says, for `scope_granted`."""
    if not isinstance(scope, dict) or not scope:
        return None
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))[:1000]


def meters_in_listing(listing: object, meters_url: str) -> tuple[DiscoveredMeter, ...]:
    """The meters of an `include=meters` listing (`{"meters": [...], "next": ...}`), archived ones
    left out. A utility's meter keeps its service identifier across authorizations, while UtilityAPI
    makes a new meter `uid` for each, so the identifier is what tells one meter from another."""
    items = listing.get("meters") if isinstance(listing, dict) else None
    if not isinstance(items, list):
        return ()
    found: dict[str, DiscoveredMeter] = {}
    for item in items:
        meter = discovered_meter(item, meters_url) if isinstance(item, dict) else None
        if meter is not None:
            found.setdefault(meter.utility_meter_id, meter)
    return tuple(found.values())


def discovered_meter(meter: Mapping[str, Any], meters_url: str) -> DiscoveredMeter | None:
    uid = _text(meter.get("uid"))
    if uid is None or meter.get("is_archived") is True:
        return None
    base = meter.get("base")
    if not isinstance(base, dict):
        base = {}
    numbers = [n for n in base.get("meter_numbers") or [] if isinstance(n, str) and n]
    service_identifier = _text(base.get("service_identifier"))
    return DiscoveredMeter(
        utility_meter_id=service_identifier or (numbers[0] if numbers else uid),
        usage_point_uri=f"{meters_url}/{uid}",
        # UtilityAPI's service_identifier is "the utility service agreement id (e.g. SAID)".
        electric_service_account_number=service_identifier,
        customer_account_number=_text(base.get("billing_account")),
        service_class=_text(base.get("service_class")),
        utility_meter_serial_number=numbers[0] if numbers else None,
        service_point_id=service_identifier,
        tariff=_text(base.get("service_tariff")),
        customer_name=_text(base.get("billing_contact")),
        address=parse_service_address(_text(base.get("service_address"))),
    )


_STATE_AND_ZIP = re.compile(r"^(?P<state>[A-Za-z]{2})\s+(?P<zip>\d{5}(?:-\d{4})?)$")


def parse_service_address(text: str | None) -> ServiceAddress:
    """`"123 Main St, Apt 4, New York, NY 10001"` → its parts; anything else stays one line."""
    if not text:
        return ServiceAddress()
    parts = [part.strip() for part in text.split(",") if part.strip()]
    match = _STATE_AND_ZIP.match(parts[-1]) if len(parts) >= 3 else None
    if match is None:
        return ServiceAddress(street_1=text.strip()[:200])
    street = parts[:-2]
    return ServiceAddress(
        street_1=street[0],
        street_2=", ".join(street[1:]) or None,
        city=parts[-2],
        state_or_province_code=match["state"].upper(),
        postal_code=match["zip"],
    )


def intervals_in_listing(
    listing: Mapping[str, Any], start: datetime, end: datetime
) -> list[Interval]:
    """Readings whose start lies in [start, end), in UTC, energy in kWh."""
    found: list[Interval] = []
    for interval in listing.get("intervals") or []:
        readings = interval.get("readings") if isinstance(interval, dict) else None
        for reading in readings if isinstance(readings, list) else []:
            parsed = _reading(reading) if isinstance(reading, dict) else None
            if parsed is not None and start <= parsed.start < end:
                found.append(parsed)
    return found


def _reading(reading: Mapping[str, Any]) -> Interval | None:
    begins, ends = _time(reading.get("start")), _time(reading.get("end"))
    if begins is None or ends is None or ends <= begins:
        return None
    kwh: float | None = None
    for point in reading.get("datapoints") or []:
        if (
            isinstance(point, dict)
            and point.get("unit") == "kwh"
            and point.get("type") in ("kwh", "net")
            and isinstance(point.get("value"), int | float)
        ):
            kwh = float(point["value"])
            break
    if kwh is None and isinstance(reading.get("kwh"), int | float):
        kwh = float(reading["kwh"])  # the older, deprecated field
    if kwh is None:
        return None
    # UtilityAPI reports the meter's net energy ("net" datapoints; the older `kwh` field too).
    return Interval(begins, int((ends - begins).total_seconds()), kwh, direction="net")


# --- webhooks -------------------------------------------------------------------------------------


def webhook_signature(secret: str, salt: str, body: bytes) -> str:
    """UtilityAPI's signature: hex SHA-256 of `"{secret}.{salt}.{body}"`."""
    return hashlib.sha256(f"{secret}.{salt}.".encode() + body).hexdigest()


def webhook_signature_ok(
    secrets: Iterable[str], salt: str | None, signature: str | None, body: bytes
) -> bool:
    if not salt or not signature:
        return False
    given = signature.strip().lower().encode()
    return any(
        hmac.compare_digest(webhook_signature(secret, salt, body).encode(), given)
        for secret in secrets
        if secret
    )


# --- helpers --------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # uids "may appear as integers"
    if isinstance(value, str):
        return value.strip() or None
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
