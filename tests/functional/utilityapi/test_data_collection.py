"""A New York meter's history: asked of UtilityAPI once found, then readable once collected."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from leap_connect.meters.service import COLLECTION_JOB_KIND
from leap_connect.models import Job, Meter, UtilityAuthorization, WebhookEvent, utc_now
from leap_connect.models.meter import MeterInterval, MeterIntervalDay
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import (
    DEFAULT_COLLECTION_DELAY,
    SandboxAuthorization,
    UtilityApiSandbox,
)
from leap_connect.settings import Settings
from tests.conftest import BASE_URL
from tests.functional.api.conftest import bearer, issue_key
from tests.functional.utilityapi.conftest import (
    BUSINESS,
    Clock,
    RunJobs,
    connect_at_utilityapi,
    meters_of,
)
from tests.support.browser import Browser
from tests.support.factories import Partner

LINK = "/acme/ny-business?requestedUtilities=cecony-utilityapi&refId=ny-biz-9"


async def connect_coned(browser: Browser, utilityapi: UtilityApiSandbox) -> None:
    """A business authorizes ConEd; UtilityAPI lists its three meters at once."""
    utilityapi.meters_delay = timedelta(0)
    landing = await browser.open(LINK)
    session_page = await connect_at_utilityapi(
        browser, landing, "cecony-utilityapi", "commercial", **BUSINESS
    )
    assert "Connected · 3 meters" in session_page.text


async def read_intervals(
    app: FastAPI, connect: Runtime, partner: Partner, meter_id: object
) -> httpx.Response:
    """The partner reads a day of the meter's readings through the API."""
    day = utc_now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        return await client.get(
            f"/v2/meters/{meter_id}/intervals",
            params={"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
            headers=bearer(await issue_key(connect, partner)),
        )


async def sandbox_authorization(
    connect: Runtime, utilityapi: UtilityApiSandbox
) -> SandboxAuthorization:
    """The one authorization the customer made, as the sandbox UtilityAPI holds it."""
    async with connect.sessionmaker() as session:
        uid = (await session.execute(select(UtilityAuthorization.utility_authorization_ref))).one()
    found = utilityapi.authorization(str(uid[0]))
    assert found is not None
    return found


async def stored_readings(connect: Runtime) -> tuple[int, int]:
    async with connect.sessionmaker() as session:
        readings = (await session.execute(select(func.count()).select_from(MeterInterval))).one()
        days = (await session.execute(select(func.count()).select_from(MeterIntervalDay))).one()
    return readings[0], days[0]


async def data_ready_events(connect: Runtime) -> list[WebhookEvent]:
    async with connect.sessionmaker() as session:
        result = await session.execute(
            select(WebhookEvent).where(WebhookEvent.event_type == "meter.data_ready")
        )
        return list(result.scalars())


async def test_a_new_york_meter_goes_collecting_then_ready_and_its_readings_are_served(
    app: FastAPI,
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
    utilityapi: UtilityApiSandbox,
) -> None:
    await connect_coned(browser, utilityapi)
    meters = await meters_of(connect)
    assert {m.data_status for m in meters} == {"COLLECTING"}

    early = await read_intervals(app, connect, partner, meters[0].id)
    assert early.status_code == 409
    assert "still collecting this meter's history" in early.json()["detail"]
    assert early.headers["retry-after"] == "300"
    assert await stored_readings(connect) == (0, 0)  # nothing kept as empty

    assert await run_jobs() == 1  # the authorization's collection job
    authorization = await sandbox_authorization(connect, utilityapi)
    assert set(authorization.collected_at) == set(authorization.meter_uids)
    assert set(authorization.monitoring.values()) == {"daily"}
    assert (await read_intervals(app, connect, partner, meters[0].id)).status_code == 409

    clock.advance(DEFAULT_COLLECTION_DELAY)
    assert await utilityapi.deliver_due_webhooks() > 0

    assert {m.data_status for m in await meters_of(connect)} == {"READY"}
    events = await data_ready_events(connect)
    assert sorted(e.payload["meter"]["meter_id"] for e in events) == sorted(
        str(m.id) for m in meters
    )
    assert {e.payload["meter"]["data_status"] for e in events} == {"READY"}
    served = await read_intervals(app, connect, partner, meters[0].id)
    assert served.status_code == 200, served.text
    readings = served.json()["intervals"]
    assert len(readings) == 96  # commercial meters read every 15 minutes
    assert all(r["kwh"] > 0 and r["kwh_delivered"] is None for r in readings)  # net only

    replayed = await utilityapi.deliver_due_webhooks()
    assert replayed == 0 and len(await data_ready_events(connect)) == 3


async def test_a_meter_never_asked_for_is_asked_for_on_its_first_intervals_request(
    app: FastAPI,
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    run_jobs: RunJobs,
    utilityapi: UtilityApiSandbox,
) -> None:
    await connect_coned(browser, utilityapi)
    assert await run_jobs() == 1
    authorization = await sandbox_authorization(connect, utilityapi)
    asked_at = dict(authorization.collected_at)
    async with connect.sessionmaker() as session, session.begin():
        meter = (await session.execute(select(Meter).limit(1))).scalar_one()
        meter.collection_requested_at = None  # as if recorded before collection was asked for

    again = await read_intervals(app, connect, partner, meter.id)

    assert again.status_code == 409
    async with connect.sessionmaker() as session:
        jobs = (await session.execute(select(Job).where(Job.kind == COLLECTION_JOB_KIND))).scalars()
        assert [job.status for job in jobs].count("QUEUED") == 1
    assert await run_jobs() == 1
    async with connect.sessionmaker() as session:
        asked = (await session.execute(select(Meter).where(Meter.id == meter.id))).scalar_one()
    assert asked.collection_requested_at is not None
    assert authorization.collected_at == asked_at  # asking again collected nothing twice


class TestWithoutWebhooks:
    """UtilityAPI sends no webhooks to an account without an endpoint: Connect asks instead."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        utilities = {
            utility_id: configured.model_copy(update={"webhook_secret": None})
            for utility_id, configured in settings.utilities.items()
        }
        return settings.model_copy(update={"utilities": utilities})

    async def test_the_collection_is_polled_until_the_meters_are_ready(
        self,
        app: FastAPI,
        browser: Browser,
        partner: Partner,
        connect: Runtime,
        clock: Clock,
        run_jobs: RunJobs,
        utilityapi: UtilityApiSandbox,
    ) -> None:
        await connect_coned(browser, utilityapi)

        assert await run_jobs() == 1  # asks for the history, then for where it stands
        assert {m.data_status for m in await meters_of(connect)} == {"COLLECTING"}
        assert await run_jobs() == 0, "the next look is not due yet"

        clock.advance(DEFAULT_COLLECTION_DELAY)
        assert await run_jobs(later=timedelta(minutes=1)) == 1

        assert {m.data_status for m in await meters_of(connect)} == {"READY"}
        assert len(await data_ready_events(connect)) == 3
        async with connect.sessionmaker() as session:
            jobs = list(
                (
                    await session.execute(select(Job).where(Job.kind == COLLECTION_JOB_KIND))
                ).scalars()
            )
        assert {job.status for job in jobs} == {"DONE"}
