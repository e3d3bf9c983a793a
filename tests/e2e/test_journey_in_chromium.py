"""A person's journey in a real Chromium: link → details → sandbox utility → session → thank-you."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor, sign
from leap_connect.models import Meter
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY
from tests.e2e.conftest import Screenshots
from tests.support.factories import THANK_YOU_URL, Partner, create_partner
from tests.support.server import leap_connect_server

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API keeps an event loop running in this thread, so use another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _seed(database_url: str) -> Partner:
    engine = create_engine(database_url)
    try:
        return await create_partner(
            (create_sessionmaker(engine), Encryptor(DEVELOPMENT_ENCRYPTION_KEY))
        )
    finally:
        await engine.dispose()


async def _meters(database_url: str) -> list[Meter]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(Meter).order_by(Meter.utility_id))).scalars())
    finally:
        await engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Partner]]:
    partner = run_async(_seed(database_url))
    with leap_connect_server(database_url, tmp_path) as base_url:
        yield base_url, partner


def serve_partner_thank_you_page(page: Page) -> list[str]:
    """The partner's site is not reachable here, so the browser gets a stand-in page."""
    seen: list[str] = []

    def fulfill(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>Thanks</title><h1>Thanks from Acme Energy</h1>",
        )

    page.route(f"{THANK_YOU_URL}**", fulfill)
    return seen


def sign_in_at_sandbox(page: Page, screenshots: Screenshots, username: str, name: str) -> None:
    expect(page.get_by_label("Username")).to_be_visible()
    screenshots.take(f"{name}-sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("sandbox")
    page.get_by_role("button", name="Sign in and share").click()


def test_residential_customer_connects_pge_in_chromium(
    server: tuple[str, Partner], page: Page, screenshots: Screenshots, database_url: str
) -> None:
    base_url, partner = server
    thank_you_requests = serve_partner_thank_you_page(page)

    page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge&refId=cust-e2e-1")
    expect(
        page.get_by_role("heading", name="Share your energy data with Acme Energy")
    ).to_be_visible()
    screenshots.take("landing")

    page.get_by_label("My home").check()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_role("button", name="Pacific Gas & Electric").click()

    sign_in_at_sandbox(page, screenshots, "residential", "pge")

    expect(page.get_by_text("Connected · 1 meter")).to_be_visible()
    screenshots.take("session")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()
    screenshots.take("thank-you")
    params = {k: v[0] for k, v in parse_qs(urlsplit(thank_you_requests[-1]).query).items()}
    assert params["refId"] == "cust-e2e-1"
    message = f"{params['connect_session_id']}.cust-e2e-1.completed.{params['ts']}"
    assert params["signature"] == sign(partner.redirect_signing_secret, message)

    meters = run_async(_meters(database_url))
    assert [(m.utility_id, m.partner_reference) for m in meters] == [("pge", "cust-e2e-1")]


def test_commercial_customer_connects_sce_and_sdge_in_chromium(
    server: tuple[str, Partner], page: Page, screenshots: Screenshots, database_url: str
) -> None:
    base_url, _partner = server
    serve_partner_thank_you_page(page)

    page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=sce,sdge&refId=biz-e2e-1")
    page.get_by_label("My business").check()
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Company name").fill("Hopper Foods")
    screenshots.take("landing")
    page.get_by_role("button", name="Southern California Edison").click()
    sign_in_at_sandbox(page, screenshots, "commercial", "sce")

    expect(page.get_by_text("Required").first).to_be_visible()
    screenshots.take("session-one-connected")
    page.get_by_role("button", name="Connect SDG&E").click()
    sign_in_at_sandbox(page, screenshots, "commercial", "sdge")

    expect(page.get_by_text("Connected · 3 meters")).to_have_count(2)
    screenshots.take("session-both-connected")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()

    meters = run_async(_meters(database_url))
    assert [m.utility_id for m in meters] == ["sce"] * 3 + ["sdge"] * 3
    assert {m.partner_reference for m in meters} == {"biz-e2e-1"}
