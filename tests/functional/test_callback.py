"""Coming back from the utility: every way it can go wrong, and replays."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from leap_connect.models import Meter, UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from tests.support.browser import Browser, Page
from tests.support.factories import RESIDENTIAL_DETAILS, Partner

DETAILS = RESIDENTIAL_DETAILS


async def go_to_utility(browser: Browser, utility_id: str = "pge", ref_id: str = "cust-1") -> Page:
    landing = await browser.open(f"/acme/ca-homes?refId={ref_id}")
    return await browser.submit(landing, button=("utility_id", utility_id), fields=DETAILS)


async def callback_url(
    browser: Browser, username: str = "residential", decision: str = "approve"
) -> str:
    """Sign in at the sandbox and return where it sends the customer back, without going."""
    at_utility = await go_to_utility(browser)
    back = await browser.submit(
        at_utility,
        button=("decision", decision),
        fields={"username": username, "password": "sandbox"},
        follow=False,
    )
    assert back.status == 303
    return back.response.headers["location"]


async def attempts(runtime: Runtime) -> list[UtilityAuthorization]:
    async with runtime.sessionmaker() as db:
        result = await db.execute(
            select(UtilityAuthorization).order_by(UtilityAuthorization.created_at)
        )
        return list(result.scalars())


async def meter_count(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(Meter))).scalar_one())


async def test_replayed_callback_creates_no_second_meter(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser)
    first = await browser.open(url)
    assert "Connected · 1 meter" in first.text
    again = await browser.open(url)
    assert "Connected · 1 meter" in again.text  # the same browser is just shown its session
    assert await meter_count(runtime) == 1


async def test_two_identical_callbacks_at_once_create_one_meter(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser)
    pages = await asyncio.gather(browser.open(url), browser.open(url))
    assert sorted(page.status for page in pages)[0] == 200
    assert await meter_count(runtime) == 1
    assert [a.status for a in await attempts(runtime)] == ["COMPLETED"]


async def test_callback_without_state_is_refused(browser: Browser, partner: Partner) -> None:
    page = await browser.open("/connect/callback/pge?code=abc")
    assert page.status == 400
    assert "without the security code we expected" in page.text


async def test_callback_with_unknown_state_is_refused(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    page = await browser.open("/connect/callback/pge?code=abc&state=forged")
    assert page.status == 400
    assert "We do not recognise this authorization" in page.text
    assert await meter_count(runtime) == 0


async def test_expired_state_fails_the_attempt(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser)
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(UtilityAuthorization).values(state_expires_at=utc_now() - timedelta(seconds=1))
        )
    page = await browser.open(url)
    assert page.status == 400
    assert "took too long and has expired" in page.text
    [attempt] = await attempts(runtime)
    assert (attempt.status, attempt.error_code) == ("FAILED", "invalid_state")
    assert await meter_count(runtime) == 0


async def test_state_from_another_browser_fails_the_attempt(
    app: FastAPI, browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        page = await Browser(stranger).open(url)
    assert page.status == 400
    assert "started in another browser" in page.text
    [attempt] = await attempts(runtime)
    assert (attempt.status, attempt.error_code) == ("FAILED", "invalid_state")
    assert await meter_count(runtime) == 0


async def test_state_issued_for_pge_is_refused_on_the_sce_callback(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser)
    page = await browser.open(url.replace("/connect/callback/pge", "/connect/callback/sce"))
    assert page.status == 400
    assert "started for another utility" in page.text
    [attempt] = await attempts(runtime)
    assert (attempt.status, attempt.error_code) == ("FAILED", "invalid_state")
    # The state is spent: the genuine callback cannot use it afterwards either.
    assert (await browser.open(url)).status == 400
    assert await meter_count(runtime) == 0


async def test_customer_who_declines_is_told_and_can_retry_or_choose_another(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    url = await callback_url(browser, decision="deny")
    assert parse_qs(urlsplit(url).query)["error"] == ["access_denied"]
    page = await browser.open(url)
    assert "You declined to share your data" in page.text
    assert "Try PG&E again" in page.text and "Choose another utility" in page.text
    assert "Acme Energy" in page.text  # the partner's page, not ours
    [attempt] = await attempts(runtime)
    assert (attempt.status, attempt.error_code) == ("FAILED", "access_denied")

    at_utility = await browser.submit(page, button=("utility_id", "pge"))
    assert urlsplit(at_utility.url).path == "/sandbox/pge/oauth/authorize"


async def test_utility_down_shows_a_retry_page_and_writes_no_meter(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    page = await browser.open(await callback_url(browser, username="utility-down"))
    assert page.status == 503
    assert "PG&E is not answering right now" in page.text
    assert "Try PG&E again" in page.text
    [attempt] = await attempts(runtime)
    assert (attempt.status, attempt.error_code) == ("FAILED", "utility_down")
    assert attempt.access_token_encrypted is None
    assert await meter_count(runtime) == 0


async def test_utility_slower_than_the_time_out_shows_a_retry_page(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    runtime.http.timeout = 0.5
    page = await browser.open(await callback_url(browser, username="slow"))
    assert page.status == 503
    assert "is not answering right now" in page.text
    [attempt] = await attempts(runtime)
    assert attempt.error_code == "utility_down"
    assert await meter_count(runtime) == 0


async def test_partial_grant_stores_the_scope_the_customer_granted(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await browser.open(await callback_url(browser, username="partial"))
    [attempt] = await attempts(runtime)
    assert attempt.status == "COMPLETED"
    assert attempt.scope_granted and attempt.scope_granted.startswith("FB=")
    assert "_5_" not in attempt.scope_granted


async def test_a_session_page_is_not_visible_to_another_browser(
    app: FastAPI, browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    session_page = await browser.open(await callback_url(browser))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        response = await stranger.get(urlsplit(session_page.url).path)
    assert response.status_code == 404
