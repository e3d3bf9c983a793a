"""A partner seeded on a fresh database, and a customer's whole journey driven over HTTP."""

from __future__ import annotations

import asyncio

import httpx

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations.service import create_api_key
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY, DEVELOPMENT_SECRET_KEY
from tests.support.browser import Browser, Page
from tests.support.factories import RESIDENTIAL_DETAILS, create_partner

DETAILS = RESIDENTIAL_DETAILS


async def seed(database_url: str) -> str:
    """The `acme` partner with its `ca-homes` flow; returns a `webhooks:manage` API key."""
    engine = create_engine(database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        partner = await create_partner((sessionmaker, Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
        async with sessionmaker() as session, session.begin():
            issued = await create_api_key(
                session,
                DEVELOPMENT_SECRET_KEY,
                organization=partner.organization,
                scopes=["webhooks:manage"],
            )
        return issued.token
    finally:
        await engine.dispose()


async def journey(
    client: httpx.AsyncClient,
    sandbox: str,
    ref_id: str,
    *,
    also_follow: tuple[str, ...] = (),
    username: str = "residential",
) -> Browser:
    """A customer connects PG&E and finishes; returns the browser with every response it saw."""
    browser = Browser(client, also_follow=(sandbox.split("/sandbox/")[0], *also_follow))
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities=pge&refId={ref_id}")
    assert landing.status == 200, landing.text
    at_utility = await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS)
    assert at_utility.url.startswith(sandbox), at_utility.url
    session_page: Page = await browser.submit(
        at_utility,
        button=("decision", "approve"),
        fields={"username": username, "password": "sandbox"},
    )
    # By default every customer signs in as the sandbox's one residential customer: one meter in
    # all, which the first journey creates and the others re-connect under their own refId.
    session_page = await reload_while_finishing(browser, session_page)
    assert "Utility connected" in session_page.text, session_page.text
    finished = await browser.submit(session_page, button=("action", "continue"), follow=False)
    assert finished.status == 303, finished.text
    return browser


async def reload_while_finishing(browser: Browser, page: Page) -> Page:
    """Wait, as the page asks, while the grant is kept but not yet recorded (a database outage at
    the callback), reloading it until the worker's job has recorded it."""
    waited = 0
    while "Finishing your connection" in page.text and waited < 120:
        await asyncio.sleep(2)
        waited += 2
        page = await browser.open(page.url)
    return page


def journey_step(method: str, path: str) -> str:
    """Which step of `journey` a request to Leap Connect is, from its method and path."""
    if path.startswith("/connect/callback/"):
        return "callback"
    if path.startswith("/connect/sessions/"):
        return "finish" if method == "POST" else "session page"
    return "choose utility" if method == "POST" else "landing"
