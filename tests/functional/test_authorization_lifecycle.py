"""A grant after the journey: the partner revokes it, the customer revokes it at the utility, it
lapses; each time the authorization, its meters and the events follow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.connect import lifecycle
from leap_connect.jobs.registry import Registry
from leap_connect.jobs.worker import Worker
from leap_connect.meters.grant_endings import ENDED_JOB_KIND
from leap_connect.models import Job, Meter, UtilityAuthorization, WebhookEvent, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import Connector, ConnectorError, Grant
from tests.functional.test_journey import connect_utility
from tests.functional.webhooks.conftest import api_key_for
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, Partner

BASE_URL = "http://testserver"


@pytest.fixture
async def api(app: FastAPI, runtime: Runtime, partner: Partner) -> AsyncIterator[httpx.AsyncClient]:
    headers = await api_key_for(runtime, partner, ["connect:write", "connect:read", "meters:read"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http:
        yield http


async def connected_meter(
    browser: Browser, runtime: Runtime, ref_id: str = "cust-7"
) -> tuple[str, str]:
    """A customer connects PG&E as `residential`: (the authorization's ID, the meter's ID)."""
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities=pge&refId={ref_id}")
    page = await connect_utility(browser, landing, "pge", "residential", RESIDENTIAL_DETAILS)
    assert page.status == 200 and "/connect/sessions/" in page.url, page.text
    async with runtime.sessionmaker() as session:
        meter = (await session.scalars(select(Meter))).one()
        return str(meter.utility_authorization_id), str(meter.id)


async def event_types(runtime: Runtime) -> list[tuple[str, Any]]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at))
        return [
            (
                row.event_type,
                (row.payload.get("authorization") or row.payload["meter"]["authorization"])[
                    "status"
                ],
            )
            for row in rows
            if row.event_type
            in ("connect_session.authorization_updated", "meter.authorization.revoked")
        ]


async def run_lifecycle_jobs(runtime: Runtime, *, later: timedelta = timedelta(0)) -> int:
    from leap_connect.connect import tasks

    handlers = Registry()
    handlers.handler(lifecycle.REVOKE_JOB_KIND)(tasks.revoke_at_utility)
    handlers.handler(ENDED_JOB_KIND)(tasks.authorization_ended)
    worker = Worker(runtime, handlers=handlers, clock=lambda: utc_now() + later)
    return await worker.run_until_idle()


async def check_once(runtime: Runtime, *, later: timedelta = timedelta(0)) -> lifecycle.CheckReport:
    """One run of the lifecycle check, as the worker's periodic job does it `later` from now."""
    async with runtime.sessionmaker() as session, session.begin():
        return await lifecycle.check_grants(
            session,
            connectors=runtime.connectors,
            encryptor=runtime.encryptor,
            now=utc_now() + later,
        )


async def sharing_at_sandbox(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await client.post(
        "/sandbox/pge/account/sharing",
        data={"username": "residential", "password": "sandbox", **fields},
    )


async def test_partner_revokes_through_the_api_and_the_grant_is_gone_at_the_utility(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    authorization_id, meter_id = await connected_meter(browser, runtime)

    revoked = await api.post(f"/v2/connect/authorizations/{authorization_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["revoked_at_utility"] is True
    assert body["authorization"]["status"] == "REVOKED" and body["authorization"]["revoked_at"]

    # The customer, signed in at the utility, sees they no longer share with Leap Connect.
    account = await sharing_at_sandbox(client)
    assert "stopped" in account.text and "Stop sharing" not in account.text

    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "REVOKED"
    start = utc_now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    readings = await api.get(
        f"/v2/meters/{meter_id}/intervals",
        params={"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
    )
    assert readings.status_code == 409
    assert "REVOKED" in readings.json()["detail"]

    assert (await event_types(runtime))[-2:] == [
        ("connect_session.authorization_updated", "REVOKED"),
        ("meter.authorization.revoked", "REVOKED"),
    ]
    # Asking again changes nothing and sends nothing.
    again = await api.post(f"/v2/connect/authorizations/{authorization_id}/revoke")
    assert again.status_code == 200 and again.json()["authorization"]["status"] == "REVOKED"
    assert len(await event_types(runtime)) == 4  # initiated, completed, revoked, meter revoked


class RefusingRevocation:
    """The utility's connector, but its revocation endpoint fails until told otherwise."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connector, name)

    async def revoke(self, grant: Grant) -> None:
        if self.failing:
            raise ConnectorError("utility_down", "PG&E answered 503.", retryable=True)
        await self.connector.revoke(grant)


async def test_a_revocation_the_utility_fails_is_shown_and_retried_until_done(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    authorization_id, meter_id = await connected_meter(browser, runtime)
    flaky = RefusingRevocation(runtime.connectors["pge"])
    runtime.connectors["pge"] = flaky  # type: ignore[assignment]

    pending = await api.post(f"/v2/connect/authorizations/{authorization_id}/revoke")
    assert pending.status_code == 202, pending.text
    shown = pending.json()
    assert shown["revoked_at_utility"] is False
    assert shown["authorization"]["status"] == "COMPLETED"
    assert shown["authorization"]["revocation_error"] == "PG&E answered 503."
    assert shown["authorization"]["revocation_requested_at"]

    # The job tries again; still failing, the partner still sees why.
    await run_lifecycle_jobs(runtime, later=timedelta(minutes=2))
    session_status = await api.get("/v2/connect/sessions")
    (authorization,) = session_status.json()["connect_sessions"][0]["authorizations"]
    assert authorization["status"] == "COMPLETED"
    assert authorization["revocation_error"] == "PG&E answered 503."

    flaky.failing = False
    await run_lifecycle_jobs(runtime, later=timedelta(hours=2))
    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "REVOKED"
    async with runtime.sessionmaker() as session:
        stored = await session.get(UtilityAuthorization, uuid.UUID(authorization_id))
        assert stored is not None and stored.revocation_error is None


async def test_customer_revokes_at_the_utility_and_one_check_marks_the_meter_revoked(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    authorization_id, meter_id = await connected_meter(browser, runtime)
    account = await sharing_at_sandbox(client)
    assert "Stop sharing" in account.text
    sandbox_id = account.text.split('name="stop" value="')[1].split('"')[0]
    stopped = await sharing_at_sandbox(client, stop=sandbox_id)
    assert "You stopped sharing your data" in stopped.text

    assert (await check_once(runtime)).revoked == 1
    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "REVOKED"
    assert (await event_types(runtime))[-2:] == [
        ("connect_session.authorization_updated", "REVOKED"),
        ("meter.authorization.revoked", "REVOKED"),
    ]
    assert (await check_once(runtime)) == lifecycle.CheckReport()  # nothing more to do
    assert authorization_id == meter["authorization"]["authorization_id"]


async def test_a_data_request_refused_after_a_refresh_ends_the_grant(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, meter_id = await connected_meter(browser, runtime)
    account = await sharing_at_sandbox(client)
    sandbox_id = account.text.split('name="stop" value="')[1].split('"')[0]
    await sharing_at_sandbox(client, stop=sandbox_id)

    start = utc_now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    readings = await api.get(
        f"/v2/meters/{meter_id}/intervals",
        params={"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
    )
    assert readings.status_code == 409, readings.text
    assert "revoked" in readings.json()["detail"]
    await run_lifecycle_jobs(runtime)
    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "REVOKED"


async def test_an_authorization_past_its_end_becomes_expired(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    authorization_id, meter_id = await connected_meter(browser, runtime)
    async with runtime.sessionmaker() as session, session.begin():
        stored = await session.get(UtilityAuthorization, uuid.UUID(authorization_id))
        assert stored is not None and stored.expires_at is not None
        # PG&E said the customer granted the flow's 12 months.
        assert timedelta(days=364) < stored.expires_at - utc_now() < timedelta(days=367)
        stored.expires_at = utc_now() - timedelta(minutes=1)

    assert (await check_once(runtime)).expired == 1
    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "EXPIRED"
    assert (await event_types(runtime))[-1] == ("connect_session.authorization_updated", "EXPIRED")


async def test_an_authorization_that_never_completed_cannot_be_revoked(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=x")
    await browser.submit(landing, button=("utility_id", "pge"), fields=RESIDENTIAL_DETAILS)
    async with runtime.sessionmaker() as session:
        started = (await session.scalars(select(UtilityAuthorization))).one()
    refused = await api.post(f"/v2/connect/authorizations/{started.id}/revoke")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    unknown = await api.post(
        "/v2/connect/authorizations/6a1d0c0e-8f7b-4b8e-8a11-3c2d9f1e0a55/revoke"
    )
    assert unknown.status_code == 404
    async with runtime.sessionmaker() as session:
        assert not list(await session.scalars(select(Job).where(Job.kind.like("connect.%"))))


async def reconnect(browser: Browser, utility_id: str, ref_id: str) -> None:
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities={utility_id}&refId={ref_id}")
    page = await connect_utility(browser, landing, utility_id, "residential", RESIDENTIAL_DETAILS)
    assert page.status == 200 and "/connect/sessions/" in page.url, page.text


async def authorizations_by_status(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(UtilityAuthorization).order_by(UtilityAuthorization.created_at)
        )
        return [(row.utility_id, row.status) for row in rows]


async def test_a_customer_who_authorizes_again_keeps_the_meter_and_its_data_flows_again(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    first_id, meter_id = await connected_meter(browser, runtime, ref_id="cust-7")
    assert (await api.post(f"/v2/connect/authorizations/{first_id}/revoke")).status_code == 200

    await reconnect(browser, "pge", "cust-8")

    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["meter_id"] == meter_id and meter["partner_reference"] == "cust-7"
    assert sorted(meter["connection_references"]) == ["cust-7", "cust-8"]
    assert meter["authorization"]["status"] == "ACTIVE"
    assert meter["authorization"]["authorization_id"] != first_id
    start = utc_now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    readings = await api.get(
        f"/v2/meters/{meter_id}/intervals",
        params={"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
    )
    assert readings.status_code == 200, readings.text
    assert readings.json()["intervals"]


async def test_pge_ends_the_grant_a_re_authorization_replaces_and_connect_follows(
    partner: Partner, browser: Browser, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await connected_meter(browser, runtime, ref_id="cust-7")
    await reconnect(browser, "pge", "cust-8")
    await run_lifecycle_jobs(runtime)
    assert await authorizations_by_status(runtime) == [("pge", "REVOKED"), ("pge", "COMPLETED")]
    # PG&E cancelled the old subscription itself: one grant left standing there.
    account = await sharing_at_sandbox(client)
    assert account.text.count("Stop sharing") == 1
    # The meter moved to the new grant: no meter.authorization.revoked for it.
    assert [kind for kind, _ in await event_types(runtime)].count(
        "meter.authorization.revoked"
    ) == 0


async def test_at_a_standard_utility_connect_revokes_the_grant_a_re_authorization_replaces(
    partner: Partner, browser: Browser, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    for ref_id in ("cust-7", "cust-8"):
        await reconnect(browser, "sce", ref_id)
    signed_in = {"username": "residential", "password": "sandbox"}
    before = await client.post("/sandbox/sce/account/sharing", data=signed_in)
    assert before.text.count("Stop sharing") == 2  # SCE leaves the old grant standing

    await run_lifecycle_jobs(runtime)

    assert await authorizations_by_status(runtime) == [("sce", "REVOKED"), ("sce", "COMPLETED")]
    after = await client.post("/sandbox/sce/account/sharing", data=signed_in)
    assert after.text.count("Stop sharing") == 1


async def test_two_checks_at_once_end_a_grant_once(
    partner: Partner, browser: Browser, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await connected_meter(browser, runtime)
    account = await sharing_at_sandbox(client)
    sandbox_id = account.text.split('name="stop" value="')[1].split('"')[0]
    await sharing_at_sandbox(client, stop=sandbox_id)

    later = timedelta(days=1, minutes=1)
    reports = await asyncio.gather(
        check_once(runtime, later=later), check_once(runtime, later=later)
    )
    assert sum(report.revoked for report in reports) == 1
    assert [kind for kind, _ in await event_types(runtime)].count(
        "meter.authorization.revoked"
    ) == 1


async def test_a_full_batch_of_checks_asks_for_another_run_at_once(
    partner: Partner, browser: Browser, runtime: Runtime
) -> None:
    await reconnect(browser, "pge", "cust-1")
    await reconnect(browser, "sce", "cust-2")

    async def check(limit: int) -> lifecycle.CheckReport:
        async with runtime.sessionmaker() as session, session.begin():
            return await lifecycle.check_grants(
                session, connectors=runtime.connectors, encryptor=runtime.encryptor, limit=limit
            )

    first = await check(1)
    assert (first.checked, first.more) == (1, True)
    second = await check(1)
    assert (second.checked, second.more) == (1, True)
    assert await check(1) == lifecycle.CheckReport()  # both asked today: nothing is due


async def test_a_renewal_link_for_a_revoked_meter_brings_it_back_under_its_reference(
    browser: Browser, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    first_id, meter_id = await connected_meter(browser, runtime, ref_id="cust-7")
    assert (await api.post(f"/v2/connect/authorizations/{first_id}/revoke")).status_code == 200

    made = await api.post("/v2/connect/links", json={"flow": "ca-homes", "meter_id": meter_id})
    assert made.status_code == 200, made.text
    link = made.json()
    assert (link["requested_utilities"], link["ref_id"]) == (["pge"], "cust-7")

    landing = await browser.open(link["url"].removeprefix(BASE_URL))
    page = await connect_utility(browser, landing, "pge", "residential", RESIDENTIAL_DETAILS)
    assert page.status == 200 and "/connect/sessions/" in page.url, page.text
    meter = (await api.get(f"/v2/meters/{meter_id}")).json()
    assert meter["authorization"]["status"] == "ACTIVE"
    assert meter["connection_references"] == ["cust-7"]

    unknown = await api.post(
        "/v2/connect/links",
        json={"flow": "ca-homes", "meter_id": "6a1d0c0e-8f7b-4b8e-8a11-3c2d9f1e0a55"},
    )
    assert unknown.status_code == 422
    assert [error["field"] for error in unknown.json()["errors"]] == ["meter_id"]
