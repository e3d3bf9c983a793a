"""A business customer reads and e-signs the additional terms in a real Chromium, on a phone-sized
screen, then finishes on the partner's thank-you page."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from leap_connect.connect.flows import create_flow
from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.esign.documents import read_terms_text
from leap_connect.esign.service import set_terms
from leap_connect.kit.crypto import Encryptor
from leap_connect.models import Agreement
from leap_connect.organizations.service import create_organization
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY
from tests.e2e.conftest import Screenshots
from tests.e2e.test_customer_pages_in_chromium import PlainWordsAudit
from tests.support.factories import THANK_YOU_URL
from tests.support.server import leap_connect_server

pytestmark = pytest.mark.e2e

T = TypeVar("T")

PARTICIPATION = """# Participation agreement

You take part in **Acme Energy**'s demand response program.

## What you agree to

1. You reduce your electricity use during events.
2. You may opt out of any event.

## What we agree to

We pay you *70%* of what we receive for your reduction. <b>Markup</b> is shown as text.
"""


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API keeps an event loop running in this thread, so use another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            organization, _ = await create_organization(
                session,
                Encryptor(DEVELOPMENT_ENCRYPTION_KEY),
                name="acme",
                display_name="Acme Energy",
            )
            flow = await create_flow(
                session,
                organization=organization,
                url_friendly_title="ca-business",
                region="CAISO",
                utility_ids=["pge", "sce", "sdge"],
                customer_types=["commercial"],
                thank_you_url=THANK_YOU_URL,
                development=True,
            )
            await set_terms(
                session,
                flow=flow,
                documents=[
                    read_terms_text("commercial", "participation-agreement.md", PARTICIPATION),
                    read_terms_text(
                        "commercial",
                        "data-sharing-addendum.md",
                        "# Data-sharing addendum\n\nWe read your meters' interval data.\n",
                    ),
                ],
            )
    finally:
        await engine.dispose()


async def _agreements(database_url: str) -> list[Agreement]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await session.execute(select(Agreement).order_by(Agreement.signed_at))
            return list(result.scalars())
    finally:
        await engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    run_async(_seed(database_url))
    with leap_connect_server(database_url, tmp_path) as base_url:
        yield base_url


def serve_partner_thank_you_page(page: Page) -> None:
    def fulfill(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>Thanks</title><h1>Thanks from Acme Energy</h1>",
        )

    page.route(f"{THANK_YOU_URL}**", fulfill)


def sign(page: Page, name: str, title: str) -> None:
    page.get_by_label("I have read the notice above").check()
    page.get_by_label("Your full name (this is your signature)").fill(name)
    page.get_by_label("Your title").fill(title)
    page.get_by_role("button", name="Sign ").click()


def test_business_customer_signs_two_documents_in_chromium(
    server: str, page: Page, screenshots: Screenshots, database_url: str
) -> None:
    serve_partner_thank_you_page(page)
    audit = PlainWordsAudit(page, screenshots)  # axe-core and plain words on each terms page
    page.goto(f"{server}/acme/ca-business?requestedUtilities=sce&refId=biz-e2e-terms")
    expect(page.get_by_text("Review and sign the additional terms.")).to_be_visible()
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Company name").fill("Hopper Foods")
    page.get_by_role("button", name="Southern California Edison").click()
    page.get_by_label("Username").fill("commercial")
    page.get_by_label("Password").fill("sandbox")
    page.get_by_role("button", name="Sign in and share").click()
    expect(page.get_by_text("Connected · 3 meters")).to_be_visible()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Participation agreement", level=1)).to_be_visible()
    expect(page.get_by_text("<b>Markup</b> is shown as text.")).to_be_visible()
    expect(page.get_by_label("Company name")).to_have_value("Hopper Foods")
    # The name the customer already gave is their signature until they change it.
    expect(page.get_by_label("Your full name (this is your signature)")).to_have_value(
        "Grace Hopper"
    )
    audit.check("terms-page")

    page.get_by_role("button", name="Sign Participation agreement").click()
    expect(page.locator("#consent-error")).to_contain_text("Tick the box to agree")
    expect(page.locator("#signer_title-error")).to_contain_text("Enter your title.")
    expect(page.locator("#error-summary")).to_be_focused()
    audit.check("terms-page-refused")

    sign(page, "Grace Hopper", "Operations director")
    expect(page.get_by_role("heading", name="Data-sharing addendum", level=1)).to_be_visible()
    sign(page, "Grace Hopper", "Operations director")

    expect(page.get_by_role("heading", name="Documents signed")).to_be_visible()
    audit.check("terms-signed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Participation agreement (PDF)").click()
    assert download.value.suggested_filename == "participation-agreement-signed.pdf"
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()

    audit.assert_clean()

    agreements = run_async(_agreements(database_url))
    assert [(a.signer_name, a.company_name, len(a.meter_ids)) for a in agreements] == [
        ("Grace Hopper", "Hopper Foods", 3),
        ("Grace Hopper", "Hopper Foods", 3),
    ]
    assert all(a.user_agent and "Chrome" in a.user_agent for a in agreements)
