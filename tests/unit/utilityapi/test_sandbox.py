"""The sandbox UtilityAPI, driven over HTTP as Connect and a customer's browser would."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import lxml.html
import pytest

from leap_connect.kit.http import HttpClientFactory
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from leap_connect.sandbox.utilityapi_http import create_utilityapi_app
from tests.support.reference_data import green_button_file

CALLBACK = "https://connect.example/connect/callback/cecony-utilityapi"
WEBHOOK_URL = "https://connect.example/connect/webhooks/utilityapi"
TOKEN = "sandbox-token"
SECRET = "sandbox-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Webhooks:
    """Connect's webhook endpoint, as the sandbox reaches it."""

    def __init__(self) -> None:
        self.received: list[httpx.Request] = []
        self.answer = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.answer)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhooks() -> Webhooks:
    return Webhooks()


@pytest.fixture
def sandbox(clock: Clock, webhooks: Webhooks) -> UtilityApiSandbox:
    return UtilityApiSandbox(
        forms={"acme": [CALLBACK]},
        api_token=TOKEN,
        webhook_url=WEBHOOK_URL,
        webhook_secret=SECRET,
        meters_delay=timedelta(seconds=30),
        clock=clock,
        slow_seconds=0.01,
        http=HttpClientFactory(timeout=5, transport=httpx.MockTransport(webhooks)),
        deliver_webhooks_automatically=False,
    )


@pytest.fixture
async def utilityapi(sandbox: UtilityApiSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_utilityapi_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="https://utilityapi.test") as client:
        yield client


def form_url(**params: str) -> str:
    query = {"utility": "CECONY", "redirect_uri": CALLBACK, "state": "st-1", **params}
    return f"/authorize/acme?{urlencode({k: v for k, v in query.items() if v})}"


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def sign_in(
    client: httpx.AsyncClient, username: str = "commercial", decision: str = "approve"
) -> httpx.Response:
    page = await client.get(form_url())
    form = lxml.html.fromstring(page.text).forms[0]
    data = dict(form.form_values())
    data.update(username=username, password="sandbox", decision=decision)
    return await client.post(f"/authorize/{form.get('action')}", data=data)


async def authorization_by_referral(client: httpx.AsyncClient, referral: str) -> dict[str, object]:
    response = await client.get(
        "/api/v2/authorizations", params={"referrals": referral, "include": "meters"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    (authorization,) = response.json()["authorizations"]
    assert isinstance(authorization, dict)
    return authorization


async def test_form_follows_the_sign_in_contract_and_lists_the_test_customers(
    utilityapi: httpx.AsyncClient,
) -> None:
    page = await utilityapi.get(form_url())

    assert page.status_code == 200
    document = lxml.html.fromstring(page.text)
    assert {i.get("name") for i in document.xpath("//form//input")} >= {"username", "password"}
    buttons = {(b.get("name"), b.get("value")) for b in document.xpath("//form//button")}
    assert buttons == {("decision", "approve"), ("decision", "deny")}
    text = document.text_content()
    for username in ("residential", "commercial", "partial", "utility-down", "slow"):
        assert username in text
    assert "form-action 'self' https://connect.example" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "url",
    [
        "/authorize/other-form?utility=CECONY&redirect_uri=" + CALLBACK,
        form_url(redirect_uri="https://evil.example/cb"),
        form_url(redirect_uri=CALLBACK + "/"),
        form_url(redirect_uri=""),
        form_url() + "&redirect_uri=" + CALLBACK,
    ],
    ids=["unknown-form", "foreign-redirect", "near-miss-redirect", "no-redirect", "repeated"],
)
async def test_form_never_redirects_to_an_address_not_on_its_list(
    utilityapi: httpx.AsyncClient, url: str
) -> None:
    response = await utilityapi.get(url)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "This authorization link cannot be used" in response.text


async def test_form_for_an_unknown_utility_sends_an_invalid_request_error_back(
    utilityapi: httpx.AsyncClient,
) -> None:
    params = redirect_params(await utilityapi.get(form_url(utility="PGE")))

    assert params["error"] == "invalid_request"
    assert params["state"] == "st-1"


async def test_deny_sends_access_denied_back_with_the_state(utilityapi: httpx.AsyncClient) -> None:
    params = redirect_params(await sign_in(utilityapi, decision="deny"))

    assert params == {
        "error": "access_denied",
        "error_description": "The customer declined to share their data.",
        "state": "st-1",
    }


async def test_wrong_password_shows_the_form_again_and_authorizes_nothing(
    utilityapi: httpx.AsyncClient,
) -> None:
    response = await sign_in(utilityapi, username="nobody")

    assert response.status_code == 401
    assert "do not match a customer" in response.text


async def test_authorization_is_pending_until_its_meters_appear_after_the_delay(
    utilityapi: httpx.AsyncClient, clock: Clock
) -> None:
    params = redirect_params(await sign_in(utilityapi))
    assert params["state"] == "st-1"

    pending = await authorization_by_referral(utilityapi, params["referral"])
    clock.now += timedelta(seconds=30)
    ready = await authorization_by_referral(utilityapi, params["referral"])

    assert pending["referrals"] == [params["referral"]]
    assert (pending["status"], pending["meters"]) == ("pending", {"meters": [], "next": None})
    assert (ready["status"], ready["is_revoked"], ready["utility"]) == ("updated", False, "CECONY")
    meters = ready["meters"]
    assert isinstance(meters, dict)
    assert len(meters["meters"]) == 3
    first = meters["meters"][0]
    assert first["authorization_uid"] == ready["uid"]
    assert set(first["base"]) == {
        "billing_account",
        "billing_address",
        "billing_contact",
        "meter_numbers",
        "service_address",
        "service_class",
        "service_identifier",
        "service_tariff",
    }
    assert first["base"]["service_address"].endswith(
        ", NY " + first["base"]["service_address"][-5:]
    )
    listed = await utilityapi.get(
        "/api/v2/meters", params={"authorizations": str(ready["uid"])}, headers=AUTH
    )
    assert [m["uid"] for m in listed.json()["meters"]] == [m["uid"] for m in meters["meters"]]


@pytest.fixture(scope="module")
def utilityapis_example() -> dict[str, Any]:
    """UtilityAPI's documented example authorization object (reference data)."""
    example: dict[str, Any] = json.loads(green_button_file("eddie-authorization.json").read_text())
    return example


async def test_a_pending_authorization_has_every_field_of_utilityapis_example(
    utilityapi: httpx.AsyncClient, utilityapis_example: dict[str, Any]
) -> None:
    referral = redirect_params(await sign_in(utilityapi))["referral"]

    pending = await authorization_by_referral(utilityapi, referral)

    assert pending["status"] == "pending"
    assert set(utilityapis_example) <= set(pending)


async def test_the_same_customer_keeps_the_same_services_in_every_authorization(
    utilityapi: httpx.AsyncClient, clock: Clock
) -> None:
    first = redirect_params(await sign_in(utilityapi))["referral"]
    second = redirect_params(await sign_in(utilityapi))["referral"]
    clock.now += timedelta(minutes=1)

    services = []
    for referral in (first, second):
        meters = (await authorization_by_referral(utilityapi, referral))["meters"]
        assert isinstance(meters, dict)
        services.append([(m["uid"], m["base"]["service_identifier"]) for m in meters["meters"]])

    assert [s for _, s in services[0]] == [s for _, s in services[1]]
    assert {u for u, _ in services[0]}.isdisjoint({u for u, _ in services[1]})


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_api_needs_the_bearer_token(
    utilityapi: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await utilityapi.get("/api/v2/authorizations?referrals=x", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def collected_meter(
    utilityapi: httpx.AsyncClient, clock: Clock, username: str = "residential"
) -> dict[str, Any]:
    """A customer's one meter, its history asked for and collected."""
    referral = redirect_params(await sign_in(utilityapi, username=username))["referral"]
    clock.now += timedelta(minutes=1)
    meters = (await authorization_by_referral(utilityapi, referral))["meters"]
    assert isinstance(meters, dict)
    (meter,) = meters["meters"]
    asked = await utilityapi.post(
        "/api/v2/meters/historical-collection", json={"meters": [meter["uid"]]}, headers=AUTH
    )
    assert asked.json() == {"success": True, "meters": [meter["uid"]]}
    clock.now += timedelta(seconds=10)
    return dict(meter)


async def test_intervals_are_in_the_utilitys_local_time_and_kwh(
    utilityapi: httpx.AsyncClient, clock: Clock
) -> None:
    meter = await collected_meter(utilityapi, clock)

    response = await utilityapi.get(
        "/api/v2/intervals",
        params={
            "meters": meter["uid"],
            "start": "2026-03-01T05:00:00+00:00",
            "end": "2026-03-02T05:00:00+00:00",
        },
        headers=AUTH,
    )

    assert response.status_code == 200
    (interval,) = response.json()["intervals"]
    readings = interval["readings"]
    assert len(readings) == 24
    assert readings[0]["start"] == "2026-03-01T00:00:00-05:00"
    assert readings[0]["end"] == "2026-03-01T01:00:00-05:00"
    assert all(r["kwh"] > 0 and r["datapoints"][0]["value"] == r["kwh"] for r in readings)
    again = await utilityapi.get(
        "/api/v2/intervals",
        params={
            "meters": meter["uid"],
            "start": "2026-03-01T05:00:00Z",
            "end": "2026-03-02T05:00:00Z",
        },
        headers=AUTH,
    )
    assert again.json()["intervals"][0]["readings"] == readings


async def test_intervals_for_too_long_a_window_are_refused(utilityapi: httpx.AsyncClient) -> None:
    response = await utilityapi.get(
        "/api/v2/intervals",
        params={"meters": "1", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        headers=AUTH,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_param"


async def test_revoking_an_authorization_removes_its_meters(
    utilityapi: httpx.AsyncClient, clock: Clock, sandbox: UtilityApiSandbox
) -> None:
    referral = redirect_params(await sign_in(utilityapi))["referral"]
    clock.now += timedelta(minutes=1)
    authorization = await authorization_by_referral(utilityapi, referral)
    meters = authorization["meters"]
    assert isinstance(meters, dict)

    revoked = await utilityapi.post(
        f"/api/v2/authorizations/{authorization['uid']}/revoke", headers=AUTH
    )

    assert revoked.status_code == 200
    assert (revoked.json()["is_revoked"], revoked.json()["status"]) == (True, "revoked")
    gone = await utilityapi.get(f"/api/v2/meters/{meters['meters'][0]['uid']}", headers=AUTH)
    assert gone.status_code == 404
    assert "authorization_revoked" in {event["type"] for event in sandbox.pending_webhooks()}


async def test_utility_down_customer_makes_the_referral_lookup_fail_with_503(
    utilityapi: httpx.AsyncClient,
) -> None:
    referral = redirect_params(await sign_in(utilityapi, username="utility-down"))["referral"]

    response = await utilityapi.get(
        "/api/v2/authorizations", params={"referrals": referral}, headers=AUTH
    )

    assert response.status_code == 503
    assert response.json()["error"] == "utility_down"


async def test_injected_failures_answer_503_then_the_api_recovers(
    utilityapi: httpx.AsyncClient, sandbox: UtilityApiSandbox
) -> None:
    referral = redirect_params(await sign_in(utilityapi))["referral"]
    sandbox.fail_next_requests(1)

    failed = await utilityapi.get("/api/v2/authorizations?referrals=" + referral, headers=AUTH)
    recovered = await utilityapi.get("/api/v2/authorizations?referrals=" + referral, headers=AUTH)

    assert (failed.status_code, recovered.status_code) == (503, 200)


async def test_webhooks_are_signed_and_sent_when_due(
    utilityapi: httpx.AsyncClient,
    clock: Clock,
    sandbox: UtilityApiSandbox,
    webhooks: Webhooks,
) -> None:
    referral = redirect_params(await sign_in(utilityapi))["referral"]
    uid = (await authorization_by_referral(utilityapi, referral))["uid"]

    assert await sandbox.deliver_due_webhooks() == 2
    assert await sandbox.deliver_due_webhooks() == 0
    clock.now += timedelta(seconds=30)
    assert await sandbox.deliver_due_webhooks() == 1

    first, second = webhooks.received
    assert str(first.url) == WEBHOOK_URL
    body = json.loads(first.content)
    assert [(e["type"], e["authorization_uid"]) for e in body["events"]] == [
        ("authorization_created", uid),
        ("authorization_update_started", uid),
    ]
    assert json.loads(second.content)["events"][0]["type"] == (
        "authorization_update_finished_successful"
    )
    for request in webhooks.received:
        salt = request.headers["X-UtilityAPI-Webhook-Salt"]
        expected = hashlib.sha256(f"{SECRET}.{salt}.".encode() + request.content).hexdigest()
        assert request.headers["X-UtilityAPI-Webhook-Signature"] == expected


async def test_a_refused_webhook_is_sent_again_later(
    utilityapi: httpx.AsyncClient,
    clock: Clock,
    sandbox: UtilityApiSandbox,
    webhooks: Webhooks,
) -> None:
    await sign_in(utilityapi)
    webhooks.answer = 500

    assert await sandbox.deliver_due_webhooks() == 0
    webhooks.answer = 200
    assert await sandbox.deliver_due_webhooks() == 0, "not due again yet"
    clock.now += timedelta(seconds=2)

    assert await sandbox.deliver_due_webhooks() == 2


async def intervals_of(utilityapi: httpx.AsyncClient, meter_uid: str) -> list[dict[str, Any]]:
    response = await utilityapi.get(
        "/api/v2/intervals",
        params={
            "meters": meter_uid,
            "start": "2026-03-01T05:00:00Z",
            "end": "2026-03-02T05:00:00Z",
        },
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    intervals: list[dict[str, Any]] = response.json()["intervals"]
    return intervals


async def meter_of(utilityapi: httpx.AsyncClient, meter_uid: str) -> dict[str, Any]:
    response = await utilityapi.get(f"/api/v2/meters/{meter_uid}", headers=AUTH)
    assert response.status_code == 200, response.text
    meter: dict[str, Any] = response.json()
    return meter


async def test_a_meter_has_no_intervals_until_its_history_is_collected(
    utilityapi: httpx.AsyncClient, sandbox: UtilityApiSandbox, clock: Clock, webhooks: Webhooks
) -> None:
    referral = redirect_params(await sign_in(utilityapi, username="residential"))["referral"]
    clock.now += timedelta(minutes=1)
    meters = (await authorization_by_referral(utilityapi, referral))["meters"]
    assert isinstance(meters, dict)
    (listed,) = meters["meters"]
    uid = listed["uid"]
    assert (listed["is_activated"], listed["ongoing_monitoring"]["frequency"]) == (False, "off")
    assert await intervals_of(utilityapi, uid) == []

    asked = await utilityapi.post(
        "/api/v2/meters/historical-collection", json={"meters": [uid]}, headers=AUTH
    )
    monitored = await utilityapi.post(
        "/api/v2/meters/ongoing-monitoring",
        json={"meters": [uid], "frequency": "daily"},
        headers=AUTH,
    )

    assert asked.json() == {"success": True, "meters": [uid]}
    assert monitored.json() == {"success": True, "meters": [uid], "frequency": "daily"}
    collecting = await meter_of(utilityapi, uid)
    assert (collecting["is_activated"], collecting["status"]) == (True, "pending")
    assert collecting["ongoing_monitoring"]["frequency"] == "daily"
    assert await intervals_of(utilityapi, uid) == []

    clock.now += timedelta(seconds=5)  # the sandbox's collection takes 10 seconds by default
    assert await intervals_of(utilityapi, uid) == []
    clock.now += timedelta(seconds=5)
    assert (await meter_of(utilityapi, uid))["status"] == "updated"
    [interval] = await intervals_of(utilityapi, uid)
    assert len(interval["readings"]) == 24

    webhooks.received.clear()
    assert await sandbox.deliver_due_webhooks() > 0
    events = [event for r in webhooks.received for event in json.loads(r.content)["events"]]
    finished = [e for e in events if e["type"].startswith("meter_historical_collection_")]
    assert [(e["type"], e["meter_uid"]) for e in finished] == [
        ("meter_historical_collection_started", uid),
        ("meter_historical_collection_finished_successful", uid),
    ]


async def test_asking_twice_for_a_history_collects_it_once(
    utilityapi: httpx.AsyncClient, sandbox: UtilityApiSandbox, clock: Clock
) -> None:
    meter = await collected_meter(utilityapi, clock)
    before = len(sandbox.pending_webhooks())

    again = await utilityapi.post(
        "/api/v2/meters/historical-collection", json={"meters": [meter["uid"]]}, headers=AUTH
    )

    assert again.json() == {"success": True, "meters": [meter["uid"]]}
    assert len(sandbox.pending_webhooks()) == before
    assert (await meter_of(utilityapi, meter["uid"]))["status"] == "updated"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "required_param_missing"),
        ({"meters": "123"}, "invalid_param"),
        ({"meters": [True]}, "invalid_param"),
        ({"meters": ["no-such-meter"]}, "invalid_param"),
    ],
)
async def test_a_bad_collection_request_is_a_400_naming_the_error(
    utilityapi: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    response = await utilityapi.post(
        "/api/v2/meters/historical-collection", json=body, headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_collecting_a_revoked_authorizations_meters_is_refused(
    utilityapi: httpx.AsyncClient, sandbox: UtilityApiSandbox, clock: Clock
) -> None:
    referral = redirect_params(await sign_in(utilityapi, username="residential"))["referral"]
    clock.now += timedelta(minutes=1)
    authorization = await authorization_by_referral(utilityapi, referral)
    meters = authorization["meters"]
    assert isinstance(meters, dict)
    uid = meters["meters"][0]["uid"]
    found = sandbox.authorization(str(authorization["uid"]))
    assert found is not None
    found.revoked = clock.now  # revoked at UtilityAPI, its meters still listed here

    response = await utilityapi.post(
        "/api/v2/meters/historical-collection", json={"meters": [uid]}, headers=AUTH
    )

    assert response.status_code == 400
    assert response.json()["error"] == "expired_or_revoked"


async def test_a_solar_home_reports_net_energy_negative_at_noon(
    utilityapi: httpx.AsyncClient, clock: Clock
) -> None:
    meter = await collected_meter(utilityapi, clock, username="solar")
    response = await utilityapi.get(
        "/api/v2/intervals",
        params={
            "meters": meter["uid"],
            "start": "2025-06-01T04:00:00Z",
            "end": "2025-06-02T04:00:00Z",
        },
        headers=AUTH,
    )
    [interval] = response.json()["intervals"]
    readings = interval["readings"]
    assert len(readings) == 96  # 15-minute readings
    assert all(
        r["datapoints"] == [{"type": "net", "unit": "kwh", "value": r["kwh"]}] for r in readings
    )
    assert min(r["kwh"] for r in readings) < 0 < max(r["kwh"] for r in readings)
