"""With no UtilityAPI configured, sandbox mode (and so the demo) runs New York on the built-in
sandbox UtilityAPI at /sandbox/utilityapi."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from leap_connect.app import create_app
from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import Meter
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.conftest import BASE_URL
from tests.functional.utilityapi.conftest import BUSINESS, NY_UTILITIES
from tests.support.browser import Browser, Page
from tests.support.factories import create_partner
from tests.support.server import CLI, free_port, wait_until_up


@pytest.fixture
async def sandbox_connect(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        base_url=BASE_URL,
        sandbox=True,
        sandbox_utilityapi_meters_delay_seconds=0,
    )
    app = create_app(settings)
    runtime: Runtime = app.state.runtime
    runtime.http.transport = httpx.ASGITransport(app=app)
    yield runtime
    await runtime.engine.dispose()


async def test_sandbox_mode_sends_new_york_customers_to_the_built_in_utilityapi(
    sandbox_connect: Runtime,
) -> None:
    await create_partner(
        sandbox_connect,
        flow_title="ny",
        region="NYISO",
        utility_ids=NY_UTILITIES,
        customer_types=("commercial",),
    )
    transport = sandbox_connect.http.transport
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        browser = Browser(client)
        landing = await browser.open("/acme/ny?refId=sandbox-ny-1")
        form = await browser.submit(
            landing, button=("utility_id", "psegli-utilityapi"), fields=BUSINESS
        )
        assert urlsplit(form.url).path == "/sandbox/utilityapi/authorize/leap-connect"
        assert form.query()["utility"] == ["PSEGLI"]
        assert form.query()["redirect_uri"] == [f"{BASE_URL}/connect/callback/psegli-utilityapi"]
        assert "Share your PSEG Long Island energy data" in form.text

        session_page = await browser.submit(
            form,
            button=("decision", "approve"),
            fields={"username": "commercial", "password": "sandbox"},
        )

    assert "Connected · 3 meters" in session_page.text
    async with sandbox_connect.sessionmaker() as db:
        meters = list((await db.execute(select(Meter))).scalars())
    assert {(m.utility_id, m.partner_reference) for m in meters} == {
        ("psegli-utilityapi", "sandbox-ny-1")
    }


async def test_demo_new_york_link_ends_on_the_thank_you_page_and_the_meters_follow(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAP_CONNECT_")}
    env["LEAP_CONNECT_DATA_DIR"] = str(tmp_path / "data")
    env["LEAP_CONNECT_SANDBOX_UTILITYAPI_METERS_DELAY_SECONDS"] = "1"
    log_path = tmp_path / "demo.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CLI, "demo", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"{base}/healthz", process)
            link = re.search(r"(http://\S+refId=demo-ny-1)", log_path.read_text())
            assert link, log_path.read_text()
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                browser = Browser(client)
                landing = await browser.open(link.group(1))
                form = await browser.submit(
                    landing, button=("utility_id", "cecony-utilityapi"), fields=BUSINESS
                )
                session_page = await browser.submit(
                    form,
                    button=("decision", "approve"),
                    fields={"username": "commercial", "password": "sandbox"},
                )
                page = await browser.submit(session_page, button=("action", "continue"))
                thank_you = await sign_any_terms(browser, page)
            assert thank_you.url.startswith(f"{base}/demo/thank-you?")
            assert parse_qs(urlsplit(thank_you.url).query)["refId"] == ["demo-ny-1"]
            assert "Signature valid" in thank_you.text

            meters = await _meters_within(
                tmp_path / "data" / "leap-connect.db", count=3, seconds=60
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert [(m.utility_id, m.partner_reference) for m in meters] == [
        ("cecony-utilityapi", "demo-ny-1")
    ] * 3


async def sign_any_terms(browser: Browser, page: Page) -> Page:
    """Through the flow's additional terms, if it has any, to the end of the journey: sign each
    document by the terms form contract's fields, then continue."""
    for _ in range(10):
        document = page.document if page.status == 200 else None
        if document is None:
            break
        if document.xpath("//button[@name='action' and @value='sign']"):
            fields = {
                "consent": "yes",
                "signer_name": BUSINESS["customer_name"],
                "signer_title": "Owner",
                "company_name": BUSINESS["company_name"],
            }
            page = await browser.submit(page, button=("action", "sign"), fields=fields)
        elif document.xpath("//button[@name='action' and @value='continue']"):
            page = await browser.submit(page, button=("action", "continue"))
        elif links := document.xpath("//a[normalize-space()='Continue']/@href"):
            page = await browser.open(str(links[0]))
        else:
            break
    return page


async def _meters_within(database: Path, *, count: int, seconds: float) -> list[Meter]:
    """The meters, once the demo's worker has found `count` of them (it checks with backoff)."""
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    deadline = time.monotonic() + seconds
    try:
        while True:
            async with create_sessionmaker(engine)() as session:
                meters = list((await session.execute(select(Meter))).scalars())
            if len(meters) >= count or time.monotonic() > deadline:
                return meters
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
