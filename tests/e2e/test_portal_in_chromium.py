"""A partner in a real Chromium builds a link; a customer finishes the journey with it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations.service import create_user
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY
from tests.e2e.conftest import Screenshots
from tests.e2e.test_journey_in_chromium import (
    _meters,
    run_async,
    serve_partner_thank_you_page,
    sign_in_at_sandbox,
)
from tests.support.factories import Partner, create_partner
from tests.support.server import leap_connect_server

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "ops@acme.example"
PASSWORD = "correct horse battery staple"


async def seed_partner_with_admin(database_url: str) -> Partner:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        partner = await create_partner((sessionmaker, Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
        async with sessionmaker() as session, session.begin():
            await create_user(
                session, organization=partner.organization, email=ADMIN_EMAIL, password=PASSWORD
            )
        return partner
    finally:
        await engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    run_async(seed_partner_with_admin(database_url))
    with leap_connect_server(database_url, tmp_path) as base_url:
        yield base_url


def test_partner_builds_a_link_in_the_portal_and_a_customer_finishes_the_journey_with_it(
    server: str,
    page: Page,
    chromium: Browser,
    screenshots: Screenshots,
    database_url: str,
    request: pytest.FixtureRequest,
) -> None:
    # Imported here: the accessibility tests import this module's seed.
    from tests.e2e.test_accessibility import Audit

    audit = Audit(page, screenshots)
    check = audit.check

    base_url = server
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)

    page.goto(f"{base_url}/portal")
    expect(page.get_by_role("heading", name="Sign in to the partner portal")).to_be_visible()
    screenshots.take("portal-sign-in")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("a wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The e-mail address or the password is not right. Please check both and try again."
    )
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Connect", exact=True)).to_be_visible()
    expect(page.get_by_text("Link base")).to_be_visible()
    screenshots.take("portal-connect")

    page.get_by_role("link", name="Connect link", exact=True).click()
    expect(page.get_by_role("heading", name="New Connect link")).to_be_visible()
    page.get_by_label("Reference ID").fill("Zoë")
    expect(page.locator("#ref_id-error")).to_have_text(
        'refId may contain only printable ASCII characters; character 3 is "ë" (U+00EB), '
        "which is not ASCII."
    )
    expect(page.get_by_label("Reference ID")).to_have_attribute("aria-invalid", "true")
    screenshots.take("portal-link-builder-checking-as-you-type")
    page.get_by_label("Pacific Gas & Electric").check()
    page.get_by_label("Southern California Edison").check()
    page.get_by_label("Reference ID").fill("portal-e2e 1")
    expect(page.locator("#ref_id-error")).to_have_text("")
    page.get_by_role("button", name="Create link").click()

    link = page.get_by_label("Link to send to your customer")
    expect(link).to_have_value(
        f"{base_url}/acme/ca-homes?requestedUtilities=pge,sce&refId=portal-e2e%201"
    )
    expect(page.get_by_role("img", name="QR code of the Connect link")).to_be_visible()
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text="copied")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
    screenshots.take("portal-link-with-qr-code")
    url = link.input_value()

    for tab in ("Meters", "Sessions", "Developers"):
        page.get_by_role("navigation", name="Portal sections").get_by_role("link", name=tab).click()
        expect(page.get_by_role("heading", name=tab, exact=True)).to_be_visible()
        screenshots.take(f"portal-{tab.lower()}")

    page.get_by_role("link", name="Connect", exact=True).click()
    page.get_by_role("link", name="Bulk links from a CSV for Ca homes").click()
    page.get_by_label("CSV file of Reference IDs").set_input_files(
        files=[{"name": "refs.csv", "mimeType": "text/csv", "buffer": b"refId\ncust-1\n\ncust-2\n"}]
    )
    page.get_by_role("button", name="Create links").click()
    expect(page.get_by_role("heading", name="2 links ready")).to_be_visible()
    expect(page.get_by_role("cell", name="the Reference ID is empty")).to_be_visible()
    screenshots.take("portal-bulk-links")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the links (CSV)").click()
    assert download.value.suggested_filename == "acme-ca-homes-links.csv"
    assert Path(download.value.path()).read_text().splitlines()[1] == (
        f"cust-1,{base_url}/acme/ca-homes?refId=cust-1"
    )

    # The customer opens the link in a browser of their own.
    customer_context = chromium.new_context(viewport={"width": 420, "height": 900})
    customer = customer_context.new_page()
    customer_screens = Screenshots(customer, f"{request.node.name}-customer")
    thank_you_requests = serve_partner_thank_you_page(customer)
    try:
        customer.goto(url)
        expect(
            customer.get_by_role("heading", name="Share your energy data with Acme Energy")
        ).to_be_visible()
        customer_screens.take("landing")
        customer.get_by_label("My home").check()
        customer.get_by_label("Full name").fill("Ada Lovelace")
        customer.get_by_label("E-mail").fill("ada@example.com")
        customer.get_by_role("button", name="Pacific Gas & Electric").click()
        sign_in_at_sandbox(customer, customer_screens, "residential", "pge")
        expect(customer.get_by_text("Connected · 1 meter")).to_be_visible()
        customer.get_by_role("button", name="Connect SCE").click()
        sign_in_at_sandbox(customer, customer_screens, "residential", "sce")
        expect(customer.get_by_text("Connected · 1 meter")).to_have_count(2)
        customer_screens.take("session-both-connected")
        customer.get_by_role("button", name="Continue").click()
        expect(customer.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()
    finally:
        customer_context.close()

    params = parse_qs(urlsplit(thank_you_requests[-1]).query)
    assert params["refId"] == ["portal-e2e 1"]
    meters = run_async(_meters(database_url))
    assert [(m.utility_id, m.partner_reference) for m in meters] == [
        ("pge", "portal-e2e 1"),
        ("sce", "portal-e2e 1"),
    ]

    # Back in the portal: a webhook endpoint for reference changes, and an API key shown once.
    nav = page.get_by_role("navigation", name="Portal sections")
    nav.get_by_role("link", name="Developers").click()
    page.get_by_label("connect:read").check()
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("#new-api-key")).to_have_value(re.compile("_"))
    page.get_by_label("URL", exact=True).fill("https://partner.example/hooks")
    page.get_by_label("meter.partner_reference.updated").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#new-webhook-secret")).not_to_be_empty()
    check("portal-developers-key-and-secret-shown-once")

    # Find a meter by the Reference ID and change its reference.
    nav.get_by_role("link", name="Meters").click()
    page.get_by_label("Reference ID").fill("portal-e2e 1")
    page.get_by_label("Utility", exact=True).select_option("pge")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("row").filter(has_text="portal-e2e 1").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Ada Lovelace, meter", exact=False)).to_be_visible()
    page.get_by_label("Reference ID").fill("portal-e2e 2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("The partner reference was changed.")
    history = page.locator("section", has=page.get_by_role("heading", name="History"))
    expect(history.get_by_role("cell", name="meter.partner_reference.updated")).to_be_visible()
    check("portal-meter-reference-changed")

    nav.get_by_role("link", name="Sessions").click()
    expect(
        page.get_by_role("img", name="Conversion funnel of Ca homes", exact=False)
    ).to_be_visible()
    check("portal-sessions-funnel")
    page.get_by_role("cell", name="portal-e2e 1").first.locator("xpath=..").get_by_role(
        "link"
    ).click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    check("portal-session-timeline")

    # The change went out as a webhook event: it is in the endpoint's delivery log.
    nav.get_by_role("link", name="Developers").click()
    page.get_by_role("link", name="Delivery log of https://partner.example/hooks").click()
    expect(page.get_by_role("cell", name="meter.partner_reference.updated")).to_be_visible()
    check("portal-webhook-delivery-log")
    audit.assert_clean()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{base_url}/portal/connect")
    expect(page.get_by_role("heading", name="Sign in to the partner portal")).to_be_visible()


# --- every tab, at a desktop's size and a phone's, with axe-core finding nothing ----------------

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


async def customer_finishes_over_http(base_url: str, ref_id: str) -> None:
    """A customer's journey over real HTTP, so the portal's tabs have a meter and a session."""
    import httpx

    from tests.functional.test_journey import connect_utility
    from tests.support.browser import Browser as ScriptedBrowser

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        browser = ScriptedBrowser(client)
        landing = await browser.open(f"/acme/ca-homes?requestedUtilities=pge&refId={ref_id}")
        fields = {
            "customer_type": "residential",
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
        }
        session_page = await connect_utility(browser, landing, "pge", "residential", fields)
        finished = await browser.submit(session_page, button=("action", "continue"))
        assert finished.response.status_code == 303, finished.text


def axe_violations(page: Page) -> list[str]:
    """Every axe-core violation on the page as it stands, whatever its impact."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("load")
    results = Axe().run(page).response
    return [
        f"{v['id']} ({v['impact']}): " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in results["violations"]
    ]


def test_every_tab_at_desktop_and_phone_sizes_reads_well_and_axe_finds_nothing(
    server: str, page: Page, screenshots: Screenshots
) -> None:
    base_url = server
    run_async(customer_finishes_over_http(base_url, "walk-1"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base_url}/portal/sign-in")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Connect", exact=True)).to_be_visible()
    page.goto(f"{base_url}/portal/developers")
    page.get_by_label("connect:read").check()
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    page.get_by_label("URL", exact=True).fill("https://partner.example/hooks")
    page.get_by_label("meter.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("button", name="Copy secret")).to_be_visible()
    page.goto(f"{base_url}/portal/meters")
    meter_url = page.get_by_role("link", name="Ada Lovelace").get_attribute("href")
    page.goto(f"{base_url}/portal/sessions")
    session_url = page.locator("main a[href^='/portal/sessions/']").first.get_attribute("href")
    page.goto(f"{base_url}/portal/developers")
    endpoint_url = page.get_by_role(
        "link", name="https://partner.example/hooks", exact=True
    ).get_attribute("href")
    pages = {
        "connect": "/portal/connect",
        "link-builder": "/portal/connect/links/new",
        "meters": "/portal/meters",
        "meter": meter_url,
        "sessions": "/portal/sessions",
        "session": session_url,
        "developers": "/portal/developers",
        "webhook-endpoint": endpoint_url,
        "activity": "/portal/developers/activity",
    }

    found: dict[str, list[str]] = {}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            page.goto(f"{base_url}{path}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            found[f"{size}-{name}"] = axe_violations(page)
            screenshots.take(f"{size}-{name}")
            # Nothing sticks out sideways: the page never scrolls horizontally.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            tabs = page.get_by_role("navigation", name="Portal sections").get_by_role("link")
            for index in range(tabs.count()):
                box = tabs.nth(index).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width

        # A destructive action opens its panel, naming what stops working, before it acts.
        page.goto(f"{base_url}/portal/developers")
        page.locator("summary", has_text="Revoke").first.click()
        expect(page.get_by_text("is refused from its next request")).to_be_visible()
        found[f"{size}-revoke-asks-first"] = axe_violations(page)
        screenshots.take(f"{size}-revoke-asks-first")

        page.goto(f"{base_url}/portal/sessions")
        label = page.locator(".funnel-label").first
        assert float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 14
        show = page.get_by_role("button", name="Show").bounding_box()
        chart = page.locator(".funnel-chart").bounding_box()
        assert show is not None and chart is not None
        assert show["y"] + show["height"] + 8 <= chart["y"], "the Show button touches the chart"

    assert not any(found.values()), "\n".join(
        f"{name}: {problem}" for name, problems in found.items() for problem in problems
    )
