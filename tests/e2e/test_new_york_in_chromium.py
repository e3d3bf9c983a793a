"""A New York business in a real Chromium: ConEd and O&RU through UtilityAPI's form, the thank-you
page at once, and the meters a few seconds later, found by a real `leap-connect worker`."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.models import Meter
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY
from tests.e2e.conftest import Screenshots
from tests.e2e.test_journey_in_chromium import (
    _meters,
    run_async,
    serve_partner_thank_you_page,
    sign_in_at_sandbox,
)
from tests.support.factories import Partner, create_partner
from tests.support.server import CLI, leap_connect_server

pytestmark = pytest.mark.e2e

METERS_DELAY_SECONDS = 4
NY_UTILITIES = ("cecony-utilityapi", "oru-utilityapi", "psegli-utilityapi")


async def _seed(database_url: str) -> Partner:
    engine = create_engine(database_url)
    try:
        return await create_partner(
            (create_sessionmaker(engine), Encryptor(DEVELOPMENT_ENCRYPTION_KEY)),
            flow_title="ny-business",
            region="NYISO",
            utility_ids=NY_UTILITIES,
            customer_types=("commercial",),
        )
    finally:
        await engine.dispose()


@contextmanager
def worker_process(database_url: str, base_url: str, tmp_path: Path) -> Iterator[None]:
    """`leap-connect worker` on the same database and settings as the server."""
    env = {
        **os.environ,
        "LEAP_CONNECT_DATABASE_URL": database_url,
        "LEAP_CONNECT_BASE_URL": base_url,
        "LEAP_CONNECT_DATA_DIR": str(tmp_path),
        "LEAP_CONNECT_SANDBOX": "true",
        "LEAP_CONNECT_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [CLI, "worker", "--poll-seconds", "0.2"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    run_async(_seed(database_url))
    delay = {"LEAP_CONNECT_SANDBOX_UTILITYAPI_METERS_DELAY_SECONDS": str(METERS_DELAY_SECONDS)}
    with (
        leap_connect_server(database_url, tmp_path, delay) as base_url,
        worker_process(database_url, base_url, tmp_path),
    ):
        yield base_url


def meters_within(database_url: str, count: int, seconds: float) -> list[Meter]:
    deadline = time.monotonic() + seconds
    while True:
        meters = run_async(_meters(database_url))
        if len(meters) >= count or time.monotonic() > deadline:
            return meters
        time.sleep(0.25)


def test_new_york_business_connects_coned_and_oru_and_the_meters_follow_in_chromium(
    server: str, page: Page, screenshots: Screenshots, database_url: str
) -> None:
    serve_partner_thank_you_page(page)
    page.goto(
        f"{server}/acme/ny-business"
        "?requestedUtilities=cecony-utilityapi,oru-utilityapi&refId=ny-e2e-1"
    )
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Company name").fill("Hopper Foods")
    screenshots.take("landing")
    page.get_by_role("button", name="Consolidated Edison").click()

    expect(page.get_by_role("heading", name="Share your Con Edison energy data")).to_be_visible()
    sign_in_at_sandbox(page, screenshots, "commercial", "coned")
    expect(page.get_by_text("Required").first).to_be_visible()
    screenshots.take("session-coned-connected")

    page.get_by_role("button", name="Connect O&R").click()
    expect(page.get_by_role("heading", name="Share your O&R energy data")).to_be_visible()
    sign_in_at_sandbox(page, screenshots, "commercial", "oru")
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    screenshots.take("session-both-connected")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()
    screenshots.take("thank-you")
    assert "oru-utilityapi" not in {m.utility_id for m in run_async(_meters(database_url))}, (
        "UtilityAPI lists O&RU's meters only after the delay"
    )

    meters = meters_within(database_url, 6, seconds=30)
    assert [m.utility_id for m in meters] == ["cecony-utilityapi"] * 3 + ["oru-utilityapi"] * 3
    assert {(m.partner_reference, m.utility_is_required) for m in meters} == {("ny-e2e-1", True)}
