"""New York fixtures: Connect and a sandbox UtilityAPI as two hosts on one in-process network.

The sandbox is its own app at http://utilityapi.test (configured as Connect's UtilityAPI, the way
production points at utilityapi.com), so it outlives a restart of Connect, and its clock and
webhooks are the test's to move.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from starlette.types import ASGIApp

from leap_connect.app import runtime_of_app
from leap_connect.jobs.registry import Registry
from leap_connect.jobs.worker import Worker
from leap_connect.kit.http import HttpClientFactory
from leap_connect.meters import tasks
from leap_connect.meters.discovery import DISCOVERY_JOB_KIND
from leap_connect.meters.service import COLLECTION_JOB_KIND
from leap_connect.models import Job, Meter, utc_now
from leap_connect.runtime import Runtime
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from leap_connect.sandbox.utilityapi_http import create_utilityapi_app
from leap_connect.settings import Settings, UtilitySettings
from leap_connect.utilities.utilityapi import UtilityApiConnector
from tests.conftest import BASE_URL
from tests.support.browser import Browser, Page
from tests.support.factories import Partner, create_partner

UTILITYAPI = "http://utilityapi.test"
FORM_UID = "acme-energy"
API_TOKEN = "test-utilityapi-token"
WEBHOOK_SECRET = "test-utilityapi-webhook-secret"
WEBHOOK_URL = f"{BASE_URL}/connect/webhooks/utilityapi"
NY_UTILITIES = ("cecony-utilityapi", "oru-utilityapi", "psegli-utilityapi")
METERS_DELAY = timedelta(minutes=3)
BUSINESS = {
    "customer_name": "Grace Hopper",
    "customer_email": "grace@example.com",
    "company_name": "Hopper Foods",
}


class Clock:
    """The sandbox UtilityAPI's time, moved by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Network(httpx.AsyncBaseTransport):
    """Sends each request to the in-process app serving its host, as DNS and TCP would."""

    def __init__(self) -> None:
        self.hosts: dict[str, httpx.ASGITransport] = {}

    def serve(self, base_url: str, app: ASGIApp) -> None:
        self.hosts[urlsplit(base_url).netloc] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = self.hosts.get(request.url.netloc.decode())
        if host is None:
            raise httpx.ConnectError(f"no such host: {request.url.host}", request=request)
        return await host.handle_async_request(request)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    utilityapi = UtilitySettings(
        form_url=f"{UTILITYAPI}/authorize/{FORM_UID}",
        api_base_url=UTILITYAPI,
        api_token=SecretStr(API_TOKEN),
        webhook_secret=SecretStr(WEBHOOK_SECRET),
    )
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        base_url=BASE_URL,
        sandbox=True,
        env="development",
        utilities=dict.fromkeys(NY_UTILITIES, utilityapi),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def utilityapi(clock: Clock, network: Network) -> UtilityApiSandbox:
    sandbox = UtilityApiSandbox(
        forms={FORM_UID: [f"{BASE_URL}/connect/callback/{u}" for u in NY_UTILITIES]},
        api_token=API_TOKEN,
        webhook_url=WEBHOOK_URL,
        webhook_secret=WEBHOOK_SECRET,
        meters_delay=METERS_DELAY,
        clock=clock,
        slow_seconds=0.01,
        http=HttpClientFactory(timeout=5, transport=network),
        deliver_webhooks_automatically=False,
    )
    network.serve(UTILITYAPI, create_utilityapi_app(sandbox))
    return sandbox


def join_network(app: FastAPI, network: Network) -> Runtime:
    """Put a Connect app on the network, with no pause between referral lookups."""
    network.serve(BASE_URL, app)
    runtime = runtime_of_app(app)
    runtime.http.transport = network
    for connector in runtime.connectors.values():
        if isinstance(connector, UtilityApiConnector):
            connector.lookup_retry_delays = (0.0, 0.0)
    return runtime


@pytest.fixture
def connect(app: FastAPI, network: Network, utilityapi: UtilityApiSandbox) -> Runtime:
    return join_network(app, network)


@pytest.fixture
async def browser(connect: Runtime, network: Network) -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(transport=network, base_url=BASE_URL) as client:
        yield Browser(client, also_follow=(UTILITYAPI,))


@pytest.fixture
async def partner(connect: Runtime) -> Partner:
    return await create_partner(
        connect,
        flow_title="ny-business",
        region="NYISO",
        utility_ids=NY_UTILITIES,
        customer_types=("commercial",),
    )


class RunJobs(Protocol):
    def __call__(
        self, *, later: timedelta = ..., runtime: Runtime | None = ...
    ) -> Awaitable[int]: ...


@pytest.fixture
def run_jobs(connect: Runtime) -> RunJobs:
    """Run the due meter discoveries and collections, as a worker `later` from now would."""
    handlers = Registry()
    handlers.handler(DISCOVERY_JOB_KIND)(tasks.discover_meters)
    handlers.handler(COLLECTION_JOB_KIND)(tasks.collect_history)

    async def run(*, later: timedelta = timedelta(0), runtime: Runtime | None = None) -> int:
        worker = Worker(runtime or connect, handlers=handlers, clock=lambda: utc_now() + later)
        return await worker.run_until_idle()

    return run


async def at_utilityapi(browser: Browser, page: Page, utility_id: str, **fields: str) -> Page:
    """Press the utility's button and arrive at UtilityAPI's authorization form."""
    form = await browser.submit(page, button=("utility_id", utility_id), fields=fields or None)
    assert form.status == 200, form.text
    assert form.url.startswith(f"{UTILITYAPI}/authorize/{FORM_UID}?")
    return form


async def connect_at_utilityapi(
    browser: Browser, page: Page, utility_id: str, username: str, **fields: str
) -> Page:
    """Choose the utility, sign in at UtilityAPI's form, share, and come back to Connect."""
    form = await at_utilityapi(browser, page, utility_id, **fields)
    return await browser.submit(
        form,
        button=("decision", "approve"),
        fields={"username": username, "password": "sandbox"},
    )


async def meters_of(runtime: Runtime) -> list[Meter]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(select(Meter).order_by(Meter.utility_id, Meter.city))
        return list(result.scalars())


async def discovery_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(select(Job).where(Job.kind == DISCOVERY_JOB_KIND))
        return list(result.scalars())
