"""UtilityAPI's webhooks into Connect: only signed ones count, and none can do harm twice."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta

import httpx
import pytest
import structlog
from structlog.testing import CapturingLogger

from leap_connect.meters import discovery
from leap_connect.models import UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from tests.functional.utilityapi.conftest import (
    BUSINESS,
    METERS_DELAY,
    WEBHOOK_SECRET,
    Clock,
    RunJobs,
    connect_at_utilityapi,
    discovery_jobs,
    meters_of,
)
from tests.support.browser import Browser
from tests.support.factories import Partner

WEBHOOK = "/connect/webhooks/utilityapi"


def signed(body: bytes, *, salt: str = "0934ujsd", secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Headers as UtilityAPI signs them: hex SHA-256 of "{secret}.{salt}.{body}"."""
    signature = hashlib.sha256(f"{secret}.{salt}.".encode() + body).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-UtilityAPI-Webhook-Salt": salt,
        "X-UtilityAPI-Webhook-Signature": signature,
    }


def events_about(
    authorization_uid: str, kind: str = "authorization_update_finished_successful"
) -> bytes:
    event = {
        "uid": "f18bb97d",
        "type": kind,
        "ts": "2026-01-01T12:32:42.347321+00:00",
        "delivery_method": "webhook",
        "delivery_target": "https://connect.example/connect/webhooks/utilityapi",
        "is_delivered": False,
        "authorization_uid": authorization_uid,
    }
    return json.dumps({"events": [event], "next": None}).encode()


@pytest.fixture
async def waiting_authorization_uid(
    browser: Browser, partner: Partner, connect: Runtime, run_jobs: RunJobs, clock: Clock
) -> str:
    """A ConEd authorization whose meters UtilityAPI lists now, while Connect's discovery waits
    for its next look."""
    landing = await browser.open("/acme/ny-business?refId=hook-1")
    await connect_at_utilityapi(browser, landing, "cecony-utilityapi", "commercial", **BUSINESS)
    await run_jobs()
    clock.advance(METERS_DELAY)
    (job,) = await discovery_jobs(connect)
    assert job.run_at > utc_now()
    async with connect.sessionmaker() as db:
        authorization = await db.get(
            UtilityAuthorization, uuid.UUID(job.payload["authorization_id"])
        )
    assert authorization is not None and authorization.utility_authorization_ref
    return authorization.utility_authorization_ref


async def test_signed_webhook_makes_connect_look_for_the_meters_at_once(
    client: httpx.AsyncClient,
    connect: Runtime,
    run_jobs: RunJobs,
    waiting_authorization_uid: str,
) -> None:
    body = events_about(waiting_authorization_uid)

    response = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    assert await run_jobs() == 1
    meters = await meters_of(connect)
    assert [(m.utility_id, m.partner_reference) for m in meters] == [
        ("cecony-utilityapi", "hook-1")
    ] * 3


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            lambda body: {**signed(body), "X-UtilityAPI-Webhook-Salt": "other-salt"}, id="bad-salt"
        ),
        pytest.param(
            lambda body: {**signed(body), "X-UtilityAPI-Webhook-Signature": "0" * 64},
            id="bad-signature",
        ),
        pytest.param(lambda body: signed(body, secret="not-our-secret"), id="wrong-secret"),
        pytest.param(
            lambda body: {
                k: v for k, v in signed(body).items() if k != "X-UtilityAPI-Webhook-Signature"
            },
            id="missing-signature",
        ),
        pytest.param(
            lambda body: {
                k: v for k, v in signed(body).items() if k != "X-UtilityAPI-Webhook-Salt"
            },
            id="missing-salt",
        ),
    ],
)
async def test_webhook_without_a_good_signature_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    connect: Runtime,
    run_jobs: RunJobs,
    waiting_authorization_uid: str,
    headers: object,
) -> None:
    body = events_about(waiting_authorization_uid)
    assert callable(headers)

    response = await client.post(WEBHOOK, content=body, headers=headers(body))

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The webhook signature is missing or does not match."
    assert await run_jobs() == 0, "the discovery still waits for its next look"
    assert await meters_of(connect) == []


async def test_signature_over_another_body_is_refused(
    client: httpx.AsyncClient, waiting_authorization_uid: str
) -> None:
    headers = signed(events_about("someone-else"))

    response = await client.post(
        WEBHOOK, content=events_about(waiting_authorization_uid), headers=headers
    )

    assert response.status_code == 401


async def test_replayed_webhook_is_harmless(
    client: httpx.AsyncClient,
    connect: Runtime,
    run_jobs: RunJobs,
    waiting_authorization_uid: str,
) -> None:
    body = events_about(waiting_authorization_uid)
    headers = signed(body)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    assert len(await discovery_jobs(connect)) == 1
    assert await run_jobs() == 1
    assert await run_jobs() == 1  # the found meters' history is asked for
    meters = await meters_of(connect)

    replayed = await client.post(WEBHOOK, content=body, headers=headers)

    assert replayed.status_code == 200
    assert await run_jobs() == 0
    assert [m.id for m in await meters_of(connect)] == [m.id for m in meters]
    assert [job.status for job in await discovery_jobs(connect)] == ["DONE"]


async def test_webhook_about_an_unknown_authorization_is_logged_and_acknowledged(
    client: httpx.AsyncClient,
    connect: Runtime,
    run_jobs: RunJobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logged = CapturingLogger()
    monkeypatch.setattr(discovery, "log", structlog.wrap_logger(logged, processors=[]))
    body = events_about("12345-678", kind="authorization_created")

    response = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert response.status_code == 200
    assert [(call.method_name, call.kwargs) for call in logged.calls] == [
        (
            "info",
            {
                "event": "utilityapi_webhook_unknown_authorization",
                "authorization_uid": "12345-678",
                "type": "authorization_created",
            },
        )
    ]
    assert await discovery_jobs(connect) == []
    assert await run_jobs() == 0


async def test_webhook_that_is_not_json_is_refused(client: httpx.AsyncClient) -> None:
    body = b"events=1"

    response = await client.post(WEBHOOK, content=body, headers=signed(body))

    assert response.status_code == 400
    assert "events" in response.json()["detail"]


async def test_sandbox_utilityapi_signs_its_webhooks_so_connect_accepts_them(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
    utilityapi: UtilityApiSandbox,
) -> None:
    landing = await browser.open("/acme/ny-business?refId=hook-2")
    await connect_at_utilityapi(browser, landing, "oru-utilityapi", "residential", **BUSINESS)

    assert await utilityapi.deliver_due_webhooks() == 2  # created, update started
    await run_jobs()
    assert await meters_of(connect) == []

    clock.advance(METERS_DELAY + timedelta(seconds=1))
    assert await utilityapi.deliver_due_webhooks() == 1
    assert utilityapi.pending_webhooks() == []
    await run_jobs()
    assert [m.partner_reference for m in await meters_of(connect)] == ["hook-2"]
