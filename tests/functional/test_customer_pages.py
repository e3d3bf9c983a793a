"""Every page a customer can reach from a partner's link, failures included, is the partner's page
in plain words: its name and colour, what happened, what to do, how to reach the partner; never a
code, an ID, a field path or a code point."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from leap_connect.connect.branding import fit_for_customers
from leap_connect.kit.problems import TooManyRequests
from leap_connect.models import Organization
from leap_connect.runtime import Runtime
from leap_connect.utilities.registry import UTILITY_IDS
from tests.functional.test_journey import connect_utility
from tests.support.browser import Browser, Page
from tests.support.factories import RESIDENTIAL_DETAILS, Partner

SUPPORT = "help@acme.example"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def partner_with_support(partner: Partner, runtime: Runtime) -> Partner:
    async with runtime.sessionmaker() as db, db.begin():
        organization = await db.get(Organization, partner.organization.id)
        assert organization is not None
        organization.support_contact = SUPPORT
        organization.brand_color = "#ff6a00"
    return partner


def visible_text(page: Page) -> str:
    """What a person reads: the text, and the attributes a screen reader says."""
    spoken = " ".join(page.document.xpath("//@aria-label | //@alt | //@title"))
    return f"{page.text} {spoken}"


def assert_for_customers(page: Page) -> None:
    text = visible_text(page)
    assert UUID_TEXT.search(text) is None, text
    assert "U+" not in text, text
    for utility_id in UTILITY_IDS:
        assert re.search(rf"(?<![\w-]){re.escape(utility_id)}(?![\w-])", text) is None, text
    assert not re.search(r"\b(path|query|body)\.\w", text), text
    assert "Input should" not in text and "Supported utility IDs" not in text, text


def assert_partners_page(page: Page) -> None:
    assert page.response.headers["content-type"].startswith("text/html")
    assert page.document.xpath("//header//*[text()='Acme Energy']"), page.text
    assert page.document.xpath("//link[@href='/brand/ff6a00.css']")
    assert page.document.xpath(f"//a[@href='mailto:{SUPPORT}']"), page.text
    assert_for_customers(page)


async def start_session(browser: Browser) -> Page:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge,sce&refId=cust-1")
    return await connect_utility(browser, landing, "pge", "residential", RESIDENTIAL_DETAILS)


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/acme/ca-homes?refId=%E2%9C%93", 400, "This link is not complete"),
        ("/acme/ca-homes?refId=" + "r" * 256, 400, "This link is not complete"),
        ("/acme/ca-homes?refId=a&refId=b", 400, "This link is not complete"),
        ("/acme/ca-homes?requestedUtilities=xyz", 400, "names a utility we cannot connect here"),
        (
            "/acme/ca-homes?requestedUtilities=cecony-utilityapi",
            400,
            "names a utility we cannot connect here",
        ),
        ("/acme/no-such-flow", 404, "Acme Energy has no sign-up page at this address"),
        ("/connect/sessions/not-a-session", 404, "We could not find this page"),
        (f"/connect/sessions/{uuid.uuid4()}", 404, "We could not find this sign-up"),
    ],
    ids=[
        "non-ascii-ref",
        "long-ref",
        "two-refs",
        "unknown-utility",
        "not-offered",
        "no-flow",
        "malformed-session",
        "unknown-session",
    ],
)
async def test_a_bad_link_shows_the_partners_page_in_plain_words(
    browser: Browser, partner_with_support: Partner, path: str, status: int, says: str
) -> None:
    page = await browser.open(path)
    assert page.status == status
    assert says in page.text
    if path.startswith("/acme"):
        assert_partners_page(page)
    else:  # the address names no partner: our page, still in plain words
        assert_for_customers(page)
        assert "Questions? Contact the company that sent you the link." in page.text
    assert page.document.xpath("//p[starts-with(., 'Reference for support: ')]")


async def test_a_session_opened_in_another_browser_is_the_partners_page(
    browser: Browser, client: httpx.AsyncClient, partner_with_support: Partner
) -> None:
    session_page = await start_session(browser)
    client.cookies.clear()  # another browser, with the same address
    page = Page(await client.get(session_page.url))
    assert page.status == 404
    assert "We could not find this sign-up" in page.text
    assert_partners_page(page)


async def test_a_server_error_and_a_rate_limit_on_a_journey_page_keep_the_partner(
    app: FastAPI, browser: Browser, partner_with_support: Partner
) -> None:
    @app.get("/connect/sessions/{connect_session_id}/explodes")
    async def explode(connect_session_id: str) -> None:
        raise RuntimeError("secret internals at path.connect_session_id")

    @app.get("/connect/sessions/{connect_session_id}/limited")
    async def limited(connect_session_id: str) -> None:
        raise TooManyRequests("Rate limit of 10/minute for key 10.0.0.1 exceeded.")

    session_page = await start_session(browser)
    base = urlsplit(session_page.url).path
    failed = await browser.open(f"{base}/explodes")
    assert failed.status == 500
    assert "Something went wrong on our side" in failed.text
    assert "secret internals" not in failed.text
    assert_partners_page(failed)

    paused = await browser.open(f"{base}/limited")
    assert paused.status == 429
    assert "Please wait a minute, then try again." in paused.text
    assert "10/minute" not in paused.text
    assert_partners_page(paused)


async def test_an_unknown_utility_in_the_callback_names_no_id(browser: Browser) -> None:
    page = await browser.open("/connect/callback/not-a-utility?code=x&state=y")
    assert page.status == 404
    assert "not-a-utility" not in page.text
    assert_for_customers(page)


async def test_every_step_of_the_journey_names_utilities_as_customers_know_them(
    browser: Browser, partner_with_support: Partner
) -> None:
    landing = await browser.open("/acme/ca-homes?refId=cust-1")
    assert "Pacific Gas & Electric (PG&E)" in landing.text
    assert "San Diego Gas & Electric (SDG&E)" in landing.text
    assert "My utility isn't listed" in landing.text
    assert_partners_page(landing)

    declined_at = await browser.submit(
        landing, button=("utility_id", "pge"), fields=RESIDENTIAL_DETAILS
    )
    declined = await browser.submit(
        declined_at,
        button=("decision", "deny"),
        fields={"username": "residential", "password": "sandbox"},
    )
    assert "You chose not to share your data at PG&E." in declined.text
    assert "Try PG&E again" in declined.text and "Choose another utility" in declined.text
    assert_partners_page(declined)

    session_page = await browser.open(
        declined.document.xpath("//a[text()='Choose another utility']/@href")[0]
    )
    assert "Connect SDG&E" in session_page.text
    assert_partners_page(session_page)


async def test_a_link_for_one_utility_offers_no_other_after_a_decline(
    browser: Browser, partner_with_support: Partner
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=cust-1")
    at_utility = await browser.submit(
        landing, button=("utility_id", "pge"), fields=RESIDENTIAL_DETAILS
    )
    declined = await browser.submit(
        at_utility,
        button=("decision", "deny"),
        fields={"username": "residential", "password": "sandbox"},
    )
    assert "Choose another utility" not in declined.text
    assert "choose another utility" not in declined.text
    assert "Try PG&E again" in declined.text
    assert f"Contact Acme Energy at {SUPPORT}" in declined.text


async def test_a_forged_utility_on_the_session_page_is_refused_in_plain_words(
    browser: Browser, client: httpx.AsyncClient, partner_with_support: Partner
) -> None:
    session_page = await start_session(browser)
    form = session_page.form_with_button("utility_id", "sce")
    data = dict(form.form_values()) | {"utility_id": "cecony-utilityapi"}
    page = Page(await client.post(session_page.url, data=data))
    assert page.status == 400
    assert "Please choose one of the utilities listed here." in page.text
    assert_partners_page(page)


def test_messages_with_codes_are_not_for_customers() -> None:
    assert not fit_for_customers('character 1 is "✓" (U+2713)')
    assert not fit_for_customers("path.connect_session_id: Input should be a valid UUID")
    assert not fit_for_customers("Supported utility IDs: pge, sce")
    assert not fit_for_customers(f"There is no agreement {uuid.uuid4()}.")
    assert fit_for_customers("We could not find this sign-up. Please open the link again.")
