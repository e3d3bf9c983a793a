"""What a New York customer sees when UtilityAPI's form or API says no, and how they go on."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from leap_connect.models import UtilityAuthorization
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from tests.functional.utilityapi.conftest import (
    BUSINESS,
    UTILITYAPI,
    at_utilityapi,
    connect_at_utilityapi,
)
from tests.support.browser import Browser, Page
from tests.support.factories import Partner

LINK = "/acme/ny-business?requestedUtilities=cecony-utilityapi&refId=ny-fail-1"


async def form_sends_back(browser: Browser, form: Page, utility_id: str, error: str) -> Page:
    """UtilityAPI's form redirecting the customer back with an error, as it does."""
    (state,) = form.query()["state"]
    query = urlencode({"error": error, "error_description": f"UtilityAPI: {error}", "state": state})
    return await browser.open(f"/connect/callback/{utility_id}?{query}")


async def attempts(runtime: Runtime) -> list[tuple[str, str | None]]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(
            select(UtilityAuthorization).order_by(UtilityAuthorization.created_at)
        )
        return [(a.status, a.error_code) for a in result.scalars()]


async def test_customer_who_denies_at_the_form_is_told_nothing_was_shared(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    form = await at_utilityapi(browser, await browser.open(LINK), "cecony-utilityapi", **BUSINESS)

    page = await browser.submit(form, button=("decision", "deny"))

    assert page.status == 200
    assert "You declined to share your data" in page.text
    assert "Nothing was shared" in page.text
    assert await attempts(connect) == [("FAILED", "access_denied")]
    again = await browser.submit(page, button=("utility_id", "cecony-utilityapi"))
    assert again.url.startswith(f"{UTILITYAPI}/authorize/")


async def test_utility_down_at_the_form_asks_the_customer_to_try_again_in_a_minute(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    form = await at_utilityapi(browser, await browser.open(LINK), "cecony-utilityapi", **BUSINESS)

    page = await form_sends_back(browser, form, "cecony-utilityapi", "utility_down")

    assert page.status == 503
    assert "Con Edison is not answering right now" in page.text
    assert "Please try again in a minute" in page.text
    assert await attempts(connect) == [("FAILED", "utility_down")]
    session_page = await connect_at_utilityapi(browser, page, "cecony-utilityapi", "commercial")
    assert "Connected" in session_page.text
    assert await attempts(connect) == [("FAILED", "utility_down"), ("COMPLETED", None)]


@pytest.mark.parametrize(
    ("error", "title", "advice"),
    [
        (
            "access_invalid",
            "Con Edison did not accept your account details",
            "Check them against a recent bill",
        ),
        (
            "access_locked",
            "Your Con Edison online account is locked",
            "Unlock it or reset your password on the website of Con Edison",
        ),
        (
            "access_unsupported",
            "This Con Edison account cannot be connected here",
            "Try another of your accounts",
        ),
        (
            "temporarily_unavailable",
            "Con Edison is not answering right now",
            "Please try again in a minute",
        ),
        (
            "invalid_request",
            "We could not complete this connection",
            "Con Edison could not share your data this time. Nothing was shared.",
        ),
        (
            "something_new",
            "We could not complete this connection",
            "Con Edison could not share your data this time. Nothing was shared.",
        ),
    ],
)
async def test_each_form_error_says_what_happened_and_what_to_do_next(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    error: str,
    title: str,
    advice: str,
) -> None:
    form = await at_utilityapi(browser, await browser.open(LINK), "cecony-utilityapi", **BUSINESS)

    page = await form_sends_back(browser, form, "cecony-utilityapi", error)

    assert page.document.xpath("string(//h1)") == title
    assert advice in page.text
    assert error not in page.text and "UtilityAPI" not in page.text  # no code, no vendor
    assert page.form_with_button("utility_id", "cecony-utilityapi") is not None
    ((status, code),) = await attempts(connect)
    assert status == "FAILED"
    assert code == (error if error != "something_new" else "authorization_failed")


async def test_referral_lookup_that_fails_with_503_is_asked_again_and_the_customer_never_knows(
    browser: Browser, partner: Partner, connect: Runtime, utilityapi: UtilityApiSandbox
) -> None:
    form = await at_utilityapi(browser, await browser.open(LINK), "cecony-utilityapi", **BUSINESS)
    utilityapi.fail_next_requests(1)

    page = await browser.submit(
        form,
        button=("decision", "approve"),
        fields={"username": "commercial", "password": "sandbox"},
    )

    assert page.status == 200, page.text
    assert "Connected" in page.text
    assert await attempts(connect) == [("COMPLETED", None)]


async def test_referral_lookup_that_keeps_failing_shows_utility_down_and_a_retry_succeeds(
    browser: Browser, partner: Partner, connect: Runtime, utilityapi: UtilityApiSandbox
) -> None:
    form = await at_utilityapi(browser, await browser.open(LINK), "cecony-utilityapi", **BUSINESS)
    utilityapi.fail_next_requests(3)

    page = await browser.submit(
        form,
        button=("decision", "approve"),
        fields={"username": "commercial", "password": "sandbox"},
    )

    assert page.status == 503
    assert "Con Edison is not answering right now" in page.text
    session_page = await connect_at_utilityapi(browser, page, "cecony-utilityapi", "commercial")
    assert "Connected" in session_page.text
    assert await attempts(connect) == [("FAILED", "utility_down"), ("COMPLETED", None)]


async def test_utility_down_test_customer_sees_the_utility_is_not_answering(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    landing = await browser.open(LINK)

    page = await connect_at_utilityapi(
        browser, landing, "cecony-utilityapi", "utility-down", **BUSINESS
    )

    assert page.status == 503
    assert "Con Edison is not answering right now" in page.text
    assert await attempts(connect) == [("FAILED", "utility_down")]


async def test_slow_test_customer_still_gets_connected(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    landing = await browser.open(LINK)

    page = await connect_at_utilityapi(browser, landing, "cecony-utilityapi", "slow", **BUSINESS)

    assert page.status == 200
    assert await attempts(connect) == [("COMPLETED", None)]


async def test_replayed_callback_with_the_same_referral_connects_nothing_twice(
    browser: Browser, partner: Partner, connect: Runtime
) -> None:
    landing = await browser.open(LINK)
    await connect_at_utilityapi(browser, landing, "cecony-utilityapi", "commercial", **BUSINESS)
    callback = next(r for r in browser.history if r.url.path.startswith("/connect/callback/"))

    replay = await browser.open(str(callback.url))

    assert replay.url.startswith("http://testserver/connect/sessions/")
    assert await attempts(connect) == [("COMPLETED", None)]
