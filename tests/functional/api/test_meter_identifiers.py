"""A meter's service agreement (SAID) and its customer's account number are told apart."""

from __future__ import annotations

import httpx

from leap_connect.sandbox.customers import customer_profile
from tests.functional.api.conftest import ApiPartner, connect_meters
from tests.support.browser import Browser


async def test_the_said_is_the_usage_points_service_agreement_not_the_account_number(
    browser: Browser, client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    await connect_meters(browser, acme, ref_id="cust-said")
    [meter] = (await client.post("/v2/meters/search", json={}, headers=acme.headers)).json()[
        "meters"
    ]

    profile = customer_profile("pge", "residential")
    [point] = profile.usage_points
    assert meter["utility"]["electric_service_account_number"] == point.service_agreement_id
    assert meter["utility"]["customer_account_number"] == profile.account_number
    assert meter["utility"]["service_class"] is None  # Green Button reports none
    assert meter["data_status"] == "READY"
