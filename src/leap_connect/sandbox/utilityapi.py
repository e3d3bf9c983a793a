"""The sandbox UtilityAPI's rules and state in memory: forms, authorizations, meters, webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from leap_connect.kit.http import HttpClientFactory
from leap_connect.sandbox.customers import (
    SANDBOX_PASSWORD,
    Behaviour,
    SandboxCustomer,
    data_window,
    known_customer,
    sandbox_customer,
)
from leap_connect.sandbox.utilityapi_accounts import (
    EASTERN,
    SANDBOX_UTILITIES,
    SandboxAccount,
    SandboxMeter,
    SandboxUtility,
    kwh_readings,
    sandbox_account,
)
from leap_connect.utilities.sandbox_access import (
    SANDBOX_API_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
)

log = structlog.get_logger("leap_connect.sandbox.utilityapi")

SANDBOX_USER_EMAIL = "connect@leap-connect.example"
DEFAULT_METERS_DELAY = timedelta(seconds=5)
DEFAULT_COLLECTION_DELAY = timedelta(seconds=10)
# FrequencyType values of ongoing monitoring this sandbox accepts ("off" stops it).
MONITORING_FREQUENCIES = ("daily", "weekly", "monthly", "off")
MAX_METERS_PER_REQUEST = 1000
AUTHORIZATION_LIFETIME = timedelta(days=365)
MAX_INTERVAL_WINDOW = timedelta(days=92)
WEBHOOK_ATTEMPTS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class UntrustedFormRequest(Exception):
    """The request names no form or no allowed redirect URI: never redirect."""


class FormRequestError(Exception):
    """A form request error the client is told about at its (allowed) redirect URI."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.error = error
        self.description = description
        self.state = state


class SandboxApiError(Exception):
    """An API error answer, in UtilityAPI's format (`error`, `error_description`)."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description

    def body(self) -> dict[str, str | None]:
        return {"error": self.error, "error_description": self.description, "url": None}


@dataclass(frozen=True, slots=True)
class FormRequest:
    form_uid: str
    utility: SandboxUtility
    redirect_uri: str
    state: str | None

    def hidden_fields(self) -> dict[str, str]:
        """The request as the form carries it back (the POST checks it all again)."""
        fields = {"utility": self.utility.code, "redirect_uri": self.redirect_uri}
        if self.state is not None:
            fields["state"] = self.state
        return fields


@dataclass(slots=True)
class SandboxAuthorization:
    uid: str
    referral: str
    form_uid: str
    account: SandboxAccount
    created: datetime
    meters_ready_at: datetime
    meter_uids: tuple[str, ...]
    revoked: datetime | None = None
    collected_at: dict[str, datetime] = field(default_factory=dict)
    """Meter uid -> when its historical collection finishes (is finished, once past)."""
    monitoring: dict[str, str] = field(default_factory=dict)
    """Meter uid -> ongoing monitoring frequency."""

    @property
    def behaviour(self) -> Behaviour:
        return known_customer(self.account.username).behaviour


@dataclass(slots=True)
class _Outgoing:
    due_at: datetime
    event: dict[str, Any]
    attempts: int = 0


class UtilityApiSandbox:
    """One UtilityAPI account: its forms (each with its redirect URI allow-list), its API token
    and its webhook endpoint. Meters become visible `meters_delay` after an authorization is made,
    by `clock`; tests pass their own clock, turn automatic delivery off and call
    `deliver_due_webhooks` themselves. As at UtilityAPI, a meter has no intervals until its
    historical collection is asked for; the collection finishes `collection_delay` later."""

    def __init__(
        self,
        *,
        forms: Mapping[str, Sequence[str]],
        api_token: str = SANDBOX_API_TOKEN,
        webhook_url: str | None = None,
        webhook_secret: str = SANDBOX_WEBHOOK_SECRET,
        meters_delay: timedelta = DEFAULT_METERS_DELAY,
        collection_delay: timedelta = DEFAULT_COLLECTION_DELAY,
        clock: Callable[[], datetime] = utc_now,
        slow_seconds: float = 5.0,
        http: HttpClientFactory | None = None,
        deliver_webhooks_automatically: bool = True,
    ) -> None:
        for form_uid, uris in forms.items():
            for uri in uris:
                parts = urlsplit(uri)
                if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                    raise ValueError(f"form {form_uid}: redirect URI must be absolute: {uri!r}")
        if meters_delay < timedelta(0):
            raise ValueError("meters_delay cannot be negative")
        self.forms = {form_uid: tuple(uris) for form_uid, uris in forms.items()}
        self.api_token = api_token
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.meters_delay = meters_delay
        self.collection_delay = collection_delay
        self.clock = clock
        self.slow_seconds = slow_seconds
        self.http = http or HttpClientFactory(timeout=10.0)
        self.deliver_webhooks_automatically = deliver_webhooks_automatically
        self._authorizations: dict[str, SandboxAuthorization] = {}
        self._referrals: dict[str, str] = {}
        self._meters: dict[str, tuple[str, int]] = {}  # meter uid -> (authorization uid, index)
        self._outbox: list[_Outgoing] = []
        self._failures_to_inject = 0
        self._tasks: set[asyncio.Task[int]] = set()

    # --- the authorization form -----------------------------------------------------------------

    def check_form_request(self, form_uid: str, params: Mapping[str, Sequence[str]]) -> FormRequest:
        """First what decides whether redirecting is safe (the form and its exact redirect URI),
        then the rest, told to the client at that redirect URI."""

        def one(name: str) -> str | None:
            values = params.get(name, ())
            return values[0] if len(values) == 1 and values[0] else None

        allowed = self.forms.get(form_uid)
        if allowed is None:
            raise UntrustedFormRequest("There is no authorization form at this address.")
        if len(params.get("redirect_uri", ())) > 1:
            raise UntrustedFormRequest("The request repeats its redirect_uri.")
        redirect_uri = one("redirect_uri")
        if redirect_uri is None or redirect_uri not in allowed:
            raise UntrustedFormRequest(
                "The address this application asked to return you to is not on the form's list."
            )
        state = one("state")
        repeated = sorted(name for name, values in params.items() if len(values) > 1)
        if repeated:
            raise FormRequestError(
                redirect_uri,
                "invalid_request",
                f"repeated parameters: {', '.join(repeated)}",
                state,
            )
        code = (one("utility") or "").upper()
        utility = SANDBOX_UTILITIES.get(code)
        if utility is None:
            raise FormRequestError(
                redirect_uri,
                "invalid_request",
                f"utility must be one of {', '.join(SANDBOX_UTILITIES)}",
                state,
            )
        return FormRequest(form_uid, utility, redirect_uri, state)

    def authenticate_customer(self, username: str, password: str) -> SandboxCustomer | None:
        customer = sandbox_customer(username)
        password_ok = hmac.compare_digest(password.encode(), SANDBOX_PASSWORD.encode())
        return customer if customer is not None and password_ok else None

    def create_authorization(
        self, request: FormRequest, customer: SandboxCustomer
    ) -> SandboxAuthorization:
        now = self.clock()
        uid = _new_uid()
        account = sandbox_account(request.utility.code, customer.username)
        meter_uids = tuple(_new_uid() for _ in account.meters)
        authorization = SandboxAuthorization(
            uid=uid,
            referral=secrets.token_hex(10),
            form_uid=request.form_uid,
            account=account,
            created=now,
            meters_ready_at=now + self.meters_delay,
            meter_uids=meter_uids,
        )
        self._authorizations[uid] = authorization
        self._referrals[authorization.referral] = uid
        for index, meter_uid in enumerate(meter_uids):
            self._meters[meter_uid] = (uid, index)
        self._send("authorization_created", now, authorization_uid=uid)
        self._send("authorization_update_started", now, authorization_uid=uid)
        self._send(
            "authorization_update_finished_successful",
            authorization.meters_ready_at,
            authorization_uid=uid,
        )
        return authorization

    # --- the API --------------------------------------------------------------------------------

    def token_ok(self, authorization_header: str | None) -> bool:
        scheme, _, token = (authorization_header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_token.encode()
        )

    def fail_next_requests(self, count: int = 1) -> None:
        """Answer the next `count` API requests with 503, as UtilityAPI on a bad day."""
        self._failures_to_inject += count

    def take_injected_failure(self) -> SandboxApiError | None:
        if self._failures_to_inject <= 0:
            return None
        self._failures_to_inject -= 1
        return SandboxApiError(503, "server_error", "UtilityAPI is briefly unavailable.")

    async def authorizations_by_referral(
        self, referrals: Sequence[str]
    ) -> list[SandboxAuthorization]:
        found = [
            self._authorizations[self._referrals[referral]]
            for referral in dict.fromkeys(referrals)
            if referral in self._referrals
        ]
        for authorization in found:
            if authorization.behaviour is Behaviour.UTILITY_DOWN:
                raise SandboxApiError(
                    503, "utility_down", "The utility's systems are not answering."
                )
            if authorization.behaviour is Behaviour.SLOW:
                await asyncio.sleep(self.slow_seconds)
        return found

    def authorization(self, uid: str) -> SandboxAuthorization | None:
        return self._authorizations.get(uid)

    def authorizations(self, uids: Sequence[str]) -> list[SandboxAuthorization]:
        return [
            self._authorizations[uid] for uid in dict.fromkeys(uids) if uid in self._authorizations
        ]

    def revoke(self, authorization: SandboxAuthorization) -> None:
        """Revoking deletes the authorization's meters and data, as UtilityAPI does."""
        if authorization.revoked is None:
            authorization.revoked = self.clock()
            for meter_uid in authorization.meter_uids:
                self._meters.pop(meter_uid, None)
            self._send(
                "authorization_revoked", authorization.revoked, authorization_uid=authorization.uid
            )

    def visible_meters(self, authorization: SandboxAuthorization) -> list[tuple[str, SandboxMeter]]:
        """(uid, meter) of the meters UtilityAPI lists now: none before they are ready."""
        if authorization.revoked is not None or self.clock() < authorization.meters_ready_at:
            return []
        return list(zip(authorization.meter_uids, authorization.account.meters, strict=True))

    def meter(self, meter_uid: str) -> tuple[SandboxAuthorization, SandboxMeter] | None:
        found = self._meters.get(meter_uid)
        if found is None:
            return None
        authorization = self._authorizations[found[0]]
        if not self.visible_meters(authorization):
            return None
        return authorization, authorization.account.meters[found[1]]

    def start_collection(self, meter_uids: Sequence[str]) -> list[str]:
        """`POST /meters/historical-collection`: the meters whose collection was started (or is
        running or done). Revoked or expired ones are left out silently, as UtilityAPI does; if
        that leaves none, it is a 400."""
        accepted = self._meters_of_request(meter_uids)
        now = self.clock()
        for authorization, meter_uid in accepted:
            if meter_uid in authorization.collected_at:
                continue  # asking again collects only what is missing: nothing here
            finished = now + self.collection_delay
            authorization.collected_at[meter_uid] = finished
            ids = {"authorization_uid": authorization.uid, "meter_uid": meter_uid}
            self._send("meter_historical_collection_started", now, **ids)
            self._send("meter_historical_collection_finished_successful", finished, **ids)
        return [meter_uid for _, meter_uid in accepted]

    def set_monitoring(self, meter_uids: Sequence[str], frequency: str) -> list[str]:
        """`POST /meters/ongoing-monitoring`."""
        if frequency not in MONITORING_FREQUENCIES:
            raise SandboxApiError(
                400,
                "invalid_param",
                f"frequency must be one of {', '.join(MONITORING_FREQUENCIES)}",
            )
        accepted = self._meters_of_request(meter_uids)
        for authorization, meter_uid in accepted:
            authorization.monitoring[meter_uid] = frequency
        return [meter_uid for _, meter_uid in accepted]

    def collection_finished(self, authorization: SandboxAuthorization, meter_uid: str) -> bool:
        finished = authorization.collected_at.get(meter_uid)
        return finished is not None and finished <= self.clock()

    def _meters_of_request(
        self, meter_uids: Sequence[str]
    ) -> list[tuple[SandboxAuthorization, str]]:
        if not meter_uids:
            raise SandboxApiError(400, "required_param_missing", "meters is required")
        if len(meter_uids) > MAX_METERS_PER_REQUEST:
            raise SandboxApiError(
                400, "invalid_param", f"at most {MAX_METERS_PER_REQUEST} meters at a time"
            )
        known = [(uid, self._meters.get(uid)) for uid in dict.fromkeys(meter_uids)]
        unknown = [uid for uid, found in known if found is None]
        if unknown:
            raise SandboxApiError(400, "invalid_param", f"no such meters: {', '.join(unknown[:5])}")
        now = self.clock()
        accepted = []
        for uid, found in known:
            assert found is not None
            authorization = self._authorizations[found[0]]
            expired = now >= authorization.created + AUTHORIZATION_LIFETIME
            if authorization.revoked is None and not expired and self.visible_meters(authorization):
                accepted.append((authorization, uid))
        if not accepted:
            raise SandboxApiError(
                400, "expired_or_revoked", "the authorizations of these meters have ended"
            )
        return accepted

    # --- JSON in UtilityAPI's field names -------------------------------------------------------

    def authorization_json(
        self, authorization: SandboxAuthorization, *, include_meters: bool
    ) -> dict[str, Any]:
        now = self.clock()
        meters = self.visible_meters(authorization)
        ready = bool(meters)
        revoked = authorization.revoked
        notes = [
            _note(
                "access_valid",
                "Successfully registered with account number.",
                authorization.created,
            )
        ]
        if ready:
            notes.append(
                _note("meters_full", "Found all meters available.", authorization.meters_ready_at)
            )
        status_ts = revoked or (authorization.meters_ready_at if ready else authorization.created)
        body: dict[str, Any] = {
            "uid": authorization.uid,
            "created": _iso(authorization.created),
            "customer_email": f"{authorization.account.username}@customers.example",
            "customer_signature": {
                "type": "text",
                "ts": _iso(authorization.created),
                "full_name": authorization.account.customer_name,
            },
            "declined": None,
            "is_declined": False,
            "expires": _iso(authorization.created + AUTHORIZATION_LIFETIME),
            "is_expired": now >= authorization.created + AUTHORIZATION_LIFETIME,
            "exports": {},
            "template_uid": "sandbox-template",
            "form_uid": authorization.form_uid,
            "is_archived": False,
            "is_test": True,
            "scope": {"historical_months": authorization.account.history_months},
            "nickname": None,
            "notes": notes,
            "referrals": [authorization.referral],
            "revoked": _iso(revoked) if revoked else None,
            "is_revoked": revoked is not None,
            "status": "revoked" if revoked else ("updated" if ready else "pending"),
            "status_message": "Revoked"
            if revoked
            else ("Meters found!" if ready else "Collecting meters"),
            "status_ts": _iso(status_ts),
            "user_uid": "sandbox-user",
            "user_email": SANDBOX_USER_EMAIL,
            "user_status": "active",
            "utility": authorization.account.utility.code,
        }
        if include_meters:
            body["meters"] = {
                "meters": [self.meter_json(authorization, uid, meter) for uid, meter in meters],
                "next": None,
            }
        return body

    def meter_json(
        self, authorization: SandboxAuthorization, meter_uid: str, meter: SandboxMeter
    ) -> dict[str, Any]:
        account = authorization.account
        activated = meter_uid in authorization.collected_at
        collecting = activated and not self.collection_finished(authorization, meter_uid)
        status_ts = authorization.collected_at.get(meter_uid, authorization.meters_ready_at)
        if collecting:
            status_ts = self.clock()
        return {
            "uid": meter_uid,
            "created": _iso(authorization.meters_ready_at),
            "authorization_uid": authorization.uid,
            "user_email": SANDBOX_USER_EMAIL,
            "user_uid": "sandbox-user",
            "utility": account.utility.code,
            "is_archived": False,
            "is_activated": activated,
            "is_expanded": False,
            "notes": [],
            "status": "pending" if collecting else "updated",
            "status_message": "Collecting historical data..." if collecting else "Meter found",
            "status_ts": _iso(status_ts),
            "ongoing_monitoring": {
                "frequency": authorization.monitoring.get(meter_uid, "off"),
                "fixed_refresh_day": None,
            },
            "bill_count": 0,
            "bill_coverage": [],
            "bill_sources": [],
            "interval_count": 0,
            "interval_coverage": [],
            "interval_sources": [],
            "exports": {},
            "exports_list": [],
            "blocks": ["base"],
            "base": {
                "billing_account": account.billing_account,
                "billing_address": account.billing_address,
                "billing_contact": account.customer_name,
                "meter_numbers": [meter.meter_number],
                "service_address": meter.service_address,
                "service_class": meter.service_class,
                "service_identifier": meter.service_identifier,
                "service_tariff": meter.service_tariff,
            },
        }

    def interval_json(
        self,
        authorization: SandboxAuthorization,
        meter_uid: str,
        meter: SandboxMeter,
        start: datetime,
        end: datetime,
    ) -> dict[str, Any]:
        """One meter's readings in [start, end), within the published history."""
        first, last = data_window(self.clock())
        readings = kwh_readings(meter, max(start, first), min(end, last))
        return {
            "uid": f"{meter_uid}-{int(start.timestamp())}",
            "meter_uid": meter_uid,
            "authorization_uid": authorization.uid,
            "utility": authorization.account.utility.code,
            "created": _iso(authorization.meters_ready_at),
            "updated": _iso(authorization.meters_ready_at),
            "blocks": ["base", "readings"],
            "notes": [],
            "sources": [{"type": "portal"}],
            "base": {
                "meter_numbers": [meter.meter_number],
                "qualities": [],
                "service_address": meter.service_address,
                "service_identifier": meter.service_identifier,
                "service_tariff": meter.service_tariff,
            },
            "readings": [
                {
                    "start": _local(begins),
                    "end": _local(ends),
                    "kwh": kwh,
                    "datapoints": [{"type": "net", "unit": "kwh", "value": kwh}],
                }
                for begins, ends, kwh in readings
            ],
        }

    # --- webhooks -------------------------------------------------------------------------------

    def _send(self, event_type: str, due_at: datetime, **attributes: str) -> None:
        if not self.webhook_url:
            return
        event = {
            "uid": secrets.token_hex(6),
            "type": event_type,
            "ts": _iso(due_at),
            "delivery_method": "webhook",
            "delivery_target": self.webhook_url,
            "is_delivered": False,
            **attributes,
        }
        self._outbox.append(_Outgoing(due_at, event))
        self._deliver_at(due_at)

    def pending_webhooks(self) -> list[dict[str, Any]]:
        return [outgoing.event for outgoing in self._outbox]

    async def deliver_due_webhooks(self) -> int:
        """POST the events that are due, in one signed request; returns how many were sent."""
        now = self.clock()
        due = [outgoing for outgoing in self._outbox if outgoing.due_at <= now]
        if not due or not self.webhook_url:
            return 0
        self._outbox = [outgoing for outgoing in self._outbox if outgoing.due_at > now]
        body = json.dumps({"events": [o.event for o in due], "next": None}).encode()
        salt = secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json",
            "X-UtilityAPI-Webhook-Salt": salt,
            "X-UtilityAPI-Webhook-Signature": hashlib.sha256(
                f"{self.webhook_secret}.{salt}.".encode() + body
            ).hexdigest(),
        }
        try:
            async with self.http.client() as client:
                response = await client.post(self.webhook_url, content=body, headers=headers)
            delivered = response.status_code == 200
        except httpx.HTTPError as error:
            log.warning("sandbox_webhook_failed", error=type(error).__name__)
            delivered = False
        if delivered:
            return len(due)
        for outgoing in due:
            outgoing.attempts += 1
            if outgoing.attempts < WEBHOOK_ATTEMPTS:
                outgoing.due_at = now + timedelta(seconds=2**outgoing.attempts)
                self._outbox.append(outgoing)
                self._deliver_at(outgoing.due_at)
        return 0

    def _deliver_at(self, due_at: datetime) -> None:
        if not self.deliver_webhooks_automatically:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, (due_at - self.clock()).total_seconds())
        loop.call_later(delay, self._start_delivery)

    def _start_delivery(self) -> None:
        task = asyncio.create_task(self.deliver_due_webhooks())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _new_uid() -> str:
    # UtilityAPI's uids look like numbers but are strings.
    return str(10_000_000 + secrets.randbelow(90_000_000))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _local(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, EASTERN).isoformat()


def _note(kind: str, message: str, moment: datetime) -> dict[str, str]:
    return {"type": kind, "msg": message, "ts": _iso(moment)}
