"""A customer's finished journey at the in-process sandbox, for the portal's tabs to show."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.app import runtime_of_app
from leap_connect.models import Meter
from tests.functional.test_journey import connect_utility
from tests.support.browser import Browser


async def finish_journey(
    client: httpx.AsyncClient,
    app: FastAPI,
    ref_id: str = "cust-123",
    *,
    customer: str = "residential",
) -> Meter:
    """Connect PG&E as a residential customer through `acme/ca-homes`; returns the new meter.

    `customer` is the sandbox's test customer ("residential+b" is another home, with its own meter).
    """
    runtime = runtime_of_app(app)
    runtime.http.transport = httpx.ASGITransport(app=app)
    browser = Browser(client)
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities=pge&refId={ref_id}")
    assert landing.status == 200, landing.text
    session_page = await connect_utility(
        browser,
        landing,
        "pge",
        customer,
        {
            "customer_type": "residential",
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
        },
    )
    finished = await browser.submit(session_page, button=("action", "continue"))
    assert finished.response.status_code == 303, finished.text
    async with runtime.sessionmaker() as db:
        return (
            await db.execute(select(Meter).where(Meter.partner_reference == ref_id))
        ).scalar_one()
