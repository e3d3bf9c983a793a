"""A UtilityAPI grant's end: the customer revokes it (UtilityAPI's webhook says so), the partner
revokes it (UtilityAPI's revoke call), or it expires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from leap_connect.models import UtilityAuthorization, WebhookEvent
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from tests.functional.test_authorization_lifecycle import check_once, run_lifecycle_jobs
from tests.functional.utilityapi.conftest import (
    BASE_URL,
    BUSINESS,
    METERS_DELAY,
    Clock,
    Network,
    RunJobs,
    connect_at_utilityapi,
    meters_of,
)
from tests.functional.webhooks.conftest import api_key_for
from tests.support.browser import Browser
from tests.support.factories import Partner


@pytest.fixture
async def api(
    connect: Runtime, network: Network, partner: Partner
) -> AsyncIterator[httpx.AsyncClient]:
    headers = await api_key_for(connect, partner, ["connect:write", "meters:read"])
    async with httpx.AsyncClient(transport=network, base_url=BASE_URL, headers=headers) as http:
        yield http


async def connected(
    browser: Browser, connect: Runtime, run_jobs: RunJobs, clock: Clock
) -> UtilityAuthorization:
    """A ConEd customer connects; UtilityAPI lists the meters after its delay."""
    landing = await browser.open(
        "/acme/ny-business?requestedUtilities=cecony-utilityapi&refId=ny-1"
    )
    await connect_at_utilityapi(browser, landing, "cecony-utilityapi", "commercial", **BUSINESS)
    clock.advance(METERS_DELAY)
    await run_jobs(later=timedelta(minutes=1))
    assert await meters_of(connect)
    async with connect.sessionmaker() as session:
        return (await session.scalars(select(UtilityAuthorization))).one()


async def statuses(connect: Runtime) -> list[str]:
    async with connect.sessionmaker() as session:
        meters = await meters_of(connect)
        authorization = await session.get(UtilityAuthorization, meters[0].utility_authorization_id)
        assert authorization is not None
        return [authorization.status]


async def test_the_customer_revokes_at_utilityapi_and_its_webhook_ends_the_grant(
    partner: Partner,
    browser: Browser,
    connect: Runtime,
    run_jobs: RunJobs,
    clock: Clock,
    utilityapi: UtilityApiSandbox,
) -> None:
    authorization = await connected(browser, connect, run_jobs, clock)
    assert authorization.utility_authorization_ref is not None
    at_utilityapi = utilityapi.authorization(authorization.utility_authorization_ref)
    assert at_utilityapi is not None
    utilityapi.revoke(at_utilityapi)
    assert await utilityapi.deliver_due_webhooks() >= 1

    await run_lifecycle_jobs(connect)
    assert await statuses(connect) == ["REVOKED"]
    async with connect.sessionmaker() as session:
        kinds = list(await session.scalars(select(WebhookEvent.event_type)))
    assert kinds.count("meter.authorization.revoked") == len(await meters_of(connect))
    # UtilityAPI sends its events again: nothing more happens.
    utilityapi.revoke(at_utilityapi)
    await run_lifecycle_jobs(connect)
    async with connect.sessionmaker() as session:
        again = list(await session.scalars(select(WebhookEvent.event_type)))
    assert again == kinds


async def test_the_partner_revokes_and_utilityapi_shows_the_authorization_revoked(
    browser: Browser,
    connect: Runtime,
    run_jobs: RunJobs,
    clock: Clock,
    utilityapi: UtilityApiSandbox,
    api: httpx.AsyncClient,
) -> None:
    authorization = await connected(browser, connect, run_jobs, clock)
    revoked = await api.post(f"/v2/connect/authorizations/{authorization.id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["authorization"]["status"] == "REVOKED"
    assert authorization.utility_authorization_ref is not None
    at_utilityapi = utilityapi.authorization(authorization.utility_authorization_ref)
    assert at_utilityapi is not None and at_utilityapi.revoked is not None


async def test_an_authorization_utilityapi_lists_as_expired_becomes_expired(
    partner: Partner, browser: Browser, connect: Runtime, run_jobs: RunJobs, clock: Clock
) -> None:
    authorization = await connected(browser, connect, run_jobs, clock)
    assert authorization.expires_at is not None  # UtilityAPI's `expires`
    clock.advance(authorization.expires_at - clock() + timedelta(days=1))
    async with connect.sessionmaker() as session, session.begin():
        stored = await session.get(UtilityAuthorization, authorization.id)
        assert stored is not None
        # Connect's own clock has not reached the end: only UtilityAPI's answer says it is over.
        stored.expires_at = None
    report = await check_once(connect)
    assert report.expired == 1
    assert await statuses(connect) == ["EXPIRED"]
