"""A customer who starts at the utility's own site (PG&E's "Third-Party Portal URI") arrives at the
flow's journey for that utility, and connects it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from leap_connect.models import Meter
from leap_connect.runtime import Runtime
from tests.functional.test_journey import connect_utility
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, Partner


async def test_a_customer_sent_by_pge_lands_on_the_flow_for_pge_and_connects(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    arrival = await browser.open("/acme/ca-homes/from/pge", follow=False)
    assert arrival.status == 303
    location = arrival.response.headers["location"]
    assert urlsplit(location).path == "/acme/ca-homes"
    assert parse_qs(urlsplit(location).query) == {"requestedUtilities": ["pge"]}

    landing = await browser.open(location)
    assert landing.status == 200
    page = await connect_utility(browser, landing, "pge", "residential", RESIDENTIAL_DETAILS)
    assert page.status == 200 and "/connect/sessions/" in page.url, page.text
    async with runtime.sessionmaker() as session:
        meters = list(await session.scalars(select(Meter)))
    assert [(meter.utility_id, meter.partner_reference) for meter in meters] == [("pge", None)]


async def test_a_utility_the_flow_does_not_offer_is_a_friendly_not_found(
    browser: Browser, partner: Partner
) -> None:
    for path in (
        "/acme/ca-homes/from/cecony-utilityapi",
        "/acme/ca-homes/from/duke",
        "/acme/no-such-flow/from/pge",
        "/nobody/ca-homes/from/pge",
    ):
        page = await browser.open(path)
        assert page.status == 404, path
        assert "text/html" in page.response.headers["content-type"], path
        assert "Traceback" not in page.text
