"""The customer journey over HTTP, from a partner's link to the signed thank-you redirect."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from leap_connect.kit.crypto import sign
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from leap_connect.runtime import Runtime
from tests.support.browser import Browser, Page
from tests.support.factories import THANK_YOU_URL, Partner


async def connect_utility(
    browser: Browser,
    page: Page,
    utility_id: str,
    username: str,
    fields: dict[str, str] | None = None,
) -> Page:
    at_utility = await browser.submit(page, button=("utility_id", utility_id), fields=fields)
    assert at_utility.status == 200, at_utility.text
    assert urlsplit(at_utility.url).path == f"/sandbox/{utility_id}/oauth/authorize"
    return await browser.submit(
        at_utility,
        button=("decision", "approve"),
        fields={"username": username, "password": "sandbox"},
    )


def assert_signed_redirect(
    response: httpx.Response, partner: Partner, ref_id: str
) -> dict[str, str]:
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(THANK_YOU_URL + "?")
    params = {
        key: values[0]
        for key, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()
    }
    assert params["refId"] == ref_id
    assert params["status"] == "completed"
    assert abs(int(params["ts"]) - time.time()) < 60
    message = f"{params['connect_session_id']}.{params['refId']}.{params['status']}.{params['ts']}"
    assert params["signature"] == sign(partner.redirect_signing_secret, message)
    return params


async def test_residential_customer_connects_pge_and_lands_on_signed_thank_you_page(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=cust-123")
    assert landing.status == 200
    assert "Share your energy data with Acme Energy" in landing.text

    session_page = await connect_utility(
        browser,
        landing,
        "pge",
        "residential",
        {
            "customer_type": "residential",
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
        },
    )
    assert session_page.status == 200, session_page.text
    assert "Connected · 1 meter" in session_page.text

    finished = await browser.submit(session_page, button=("action", "continue"))
    params = assert_signed_redirect(finished.response, partner, "cust-123")

    async with runtime.sessionmaker() as db:
        meters = list((await db.execute(select(Meter))).scalars())
        assert len(meters) == 1
        meter = meters[0]
        assert (meter.utility_id, meter.partner_reference) == ("pge", "cust-123")
        assert meter.customer_classification == "RESIDENTIAL"
        assert meter.utility_is_required is True
        assert meter.street_1 and meter.postal_code
        connect_session = await db.get(ConnectSession, uuid.UUID(params["connect_session_id"]))
        assert connect_session is not None and connect_session.status == "COMPLETED"
        authorization = (await db.execute(select(UtilityAuthorization))).scalar_one()
        assert authorization.status == "COMPLETED"
        # Stored encrypted: the column decrypts to a token, and is not that token.
        stored = authorization.access_token_encrypted
        assert stored is not None
        access_token = runtime.encryptor.decrypt(stored)
        assert access_token and access_token not in stored
        references = list((await db.execute(select(ConnectionReference.reference))).scalars())
        assert references == ["cust-123"]


async def test_commercial_customer_connects_sce_and_sdge_in_one_session(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=sce,sdge&refId=biz-9")
    details = {
        "customer_type": "commercial",
        "customer_name": "Grace Hopper",
        "customer_email": "grace@example.com",
        "company_name": "Hopper Foods",
    }
    session_page = await connect_utility(browser, landing, "sce", "commercial", details)
    assert "Connected · 3 meters" in session_page.text
    assert "Required" in session_page.text

    refused = await browser.submit(session_page, button=("action", "continue"))
    assert refused.status == 400
    assert "Please connect every required utility first: San Diego Gas & Electric" in refused.text

    session_page = await connect_utility(browser, session_page, "sdge", "commercial")
    assert session_page.text.count("Connected · 3 meters") == 2

    finished = await browser.submit(session_page, button=("action", "continue"))
    assert_signed_redirect(finished.response, partner, "biz-9")

    async with runtime.sessionmaker() as db:
        meters = list((await db.execute(select(Meter).order_by(Meter.utility_id))).scalars())
    assert [m.utility_id for m in meters] == ["sce"] * 3 + ["sdge"] * 3
    assert {m.partner_reference for m in meters} == {"biz-9"}
    assert all(m.customer_classification == "COMMERCIAL" and m.utility_is_required for m in meters)
    assert all(m.end_customer_company_name == "Hopper Foods" for m in meters)
    assert len({(m.street_1, m.city) for m in meters if m.utility_id == "sce"}) == 2
