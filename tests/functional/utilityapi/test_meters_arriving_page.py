"""While a utility is still sending meters, the session page checks again by itself, without
JavaScript (a Refresh header), shows when, and lets the customer stop it."""

from __future__ import annotations

from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from tests.functional.utilityapi.conftest import METERS_DELAY, Clock, RunJobs
from tests.functional.utilityapi.test_new_york_journey import connect_coned_and_oru
from tests.support.browser import Browser
from tests.support.factories import Partner


async def test_the_page_refreshes_itself_while_meters_are_arriving(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    session_page = await connect_coned_and_oru(browser)
    assert session_page.text.count("Connected · meters arriving shortly") == 2
    assert session_page.response.headers["refresh"] == "10"
    [countdown] = session_page.document.xpath("//*[@data-countdown]")
    assert countdown.text == "10"
    assert "This page checks again in 10 seconds." in session_page.text
    assert "Con Edison" in session_page.text and "O&R" in session_page.text

    stopped = await browser.open(session_page.url + "?refresh=off")
    assert "refresh" not in stopped.response.headers
    assert "This page no longer checks by itself." in stopped.text
    assert stopped.document.xpath("//a[text()='Check again now']")


async def test_the_page_stops_refreshing_once_the_meters_are_in(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    clock: Clock,
    run_jobs: RunJobs,
    utilityapi: UtilityApiSandbox,
) -> None:
    session_page = await connect_coned_and_oru(browser)
    clock.advance(METERS_DELAY)
    await utilityapi.deliver_due_webhooks()
    await run_jobs()

    again = await browser.open(session_page.url)
    assert "Connected · 3 meters" in again.text
    assert "refresh" not in again.response.headers
    assert "checks again" not in again.text
