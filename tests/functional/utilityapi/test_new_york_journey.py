"""A New York business connects ConEd and O&RU in one session; the meters come minutes later."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from leap_connect.models import ConnectionReference, UtilityAuthorization
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from tests.functional.test_journey import assert_signed_redirect
from tests.functional.utilityapi.conftest import (
    BUSINESS,
    METERS_DELAY,
    Clock,
    RunJobs,
    connect_at_utilityapi,
    discovery_jobs,
    meters_of,
)
from tests.support.browser import Browser, Page
from tests.support.factories import Partner

LINK = "/acme/ny-business?requestedUtilities=cecony-utilityapi,oru-utilityapi&refId=ny-biz-7"


async def connect_coned_and_oru(browser: Browser) -> Page:
    landing = await browser.open(LINK)
    assert landing.status == 200, landing.text
    session_page = await connect_at_utilityapi(
        browser, landing, "cecony-utilityapi", "commercial", **BUSINESS
    )
    assert session_page.status == 200, session_page.text
    refused = await browser.submit(session_page, button=("action", "continue"))
    assert "Please connect every required utility first: Orange and Rockland" in refused.text
    session_page = await connect_at_utilityapi(browser, refused, "oru-utilityapi", "commercial")
    assert session_page.status == 200, session_page.text
    assert session_page.text.count("Connected") == 2
    return session_page


async def test_business_reaches_thank_you_page_at_once_and_meters_arrive_after_the_delay(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
) -> None:
    session_page = await connect_coned_and_oru(browser)

    finished = await browser.submit(session_page, button=("action", "continue"))
    assert_signed_redirect(finished.response, partner, "ny-biz-7")
    assert await meters_of(connect) == []

    # The worker looks at once: UtilityAPI lists no meters yet, so it will ask again later.
    assert await run_jobs() == 2
    assert await meters_of(connect) == []
    assert all(job.status == "QUEUED" for job in await discovery_jobs(connect))

    clock.advance(METERS_DELAY)
    assert await run_jobs() == 0, "the next look is not due yet"
    assert await run_jobs(later=timedelta(minutes=1)) == 2

    meters = await meters_of(connect)
    assert [m.utility_id for m in meters] == ["cecony-utilityapi"] * 3 + ["oru-utilityapi"] * 3
    assert {m.partner_reference for m in meters} == {"ny-biz-7"}
    assert all(m.utility_is_required for m in meters)
    assert {m.customer_classification for m in meters} == {"COMMERCIAL"}
    assert {m.transmission_region for m in meters} == {"NYISO"}
    assert {m.end_customer_company_name for m in meters} == {"Hopper Foods"}
    assert {m.state_or_province_code for m in meters} == {"NY"}
    assert all(m.street_1 and m.city and m.postal_code for m in meters)
    assert all(m.utility_meter_serial_number and m.tariff for m in meters)
    assert len({(m.street_1, m.city) for m in meters if m.utility_id == "oru-utilityapi"}) == 2
    async with connect.sessionmaker() as db:
        references = set((await db.execute(select(ConnectionReference.reference))).scalars())
        authorizations = list((await db.execute(select(UtilityAuthorization))).scalars())
    assert references == {"ny-biz-7"}
    assert {a.status for a in authorizations} == {"COMPLETED"}
    assert not any(a.meters_pending for a in authorizations)
    assert {job.status for job in await discovery_jobs(connect)} == {"DONE"}


async def test_utilityapi_webhook_makes_the_meters_appear_without_waiting_for_the_next_look(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
    utilityapi: UtilityApiSandbox,
) -> None:
    session_page = await connect_coned_and_oru(browser)
    assert session_page.text.count("Connected · meters arriving shortly") == 2
    await browser.submit(session_page, button=("action", "continue"))
    await run_jobs()  # nothing listed yet: both discoveries wait for their next look
    assert await meters_of(connect) == []

    clock.advance(METERS_DELAY)
    assert await utilityapi.deliver_due_webhooks() > 0
    assert await run_jobs() == 2  # due now, without moving the worker's clock

    meters = await meters_of(connect)
    assert len(meters) == 6
    assert {(m.partner_reference, m.utility_is_required) for m in meters} == {("ny-biz-7", True)}


async def test_meters_listed_at_once_are_recorded_in_the_callback_without_a_job(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    utilityapi: UtilityApiSandbox,
) -> None:
    utilityapi.meters_delay = timedelta(0)
    landing = await browser.open(LINK)
    session_page = await connect_at_utilityapi(
        browser, landing, "cecony-utilityapi", "commercial", **BUSINESS
    )

    assert "Connected · 3 meters" in session_page.text
    assert await discovery_jobs(connect) == []
    assert {m.partner_reference for m in await meters_of(connect)} == {"ny-biz-7"}


async def test_a_business_that_authorizes_twice_keeps_one_meter_per_service(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
) -> None:
    for _ in range(2):
        landing = await browser.open(LINK)
        await connect_at_utilityapi(browser, landing, "cecony-utilityapi", "commercial", **BUSINESS)
    clock.advance(METERS_DELAY)
    await run_jobs(later=timedelta(minutes=1))

    meters = await meters_of(connect)
    assert len(meters) == 3
