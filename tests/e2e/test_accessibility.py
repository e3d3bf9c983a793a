"""axe-core in a real Chromium finds no serious or critical problem on any portal or journey page.

axe-core comes from the `axe-playwright-python` package (a test extra: `make test` installs it) and
runs on each page as it stands, at a phone's width, after the page has done what its script does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screenshots
from tests.e2e.test_journey_in_chromium import run_async
from tests.e2e.test_portal_in_chromium import ADMIN_EMAIL, PASSWORD, seed_partner_with_admin
from tests.support.server import leap_connect_server

pytestmark = pytest.mark.e2e

BLOCKING = ("serious", "critical")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    run_async(seed_partner_with_admin(database_url))
    with leap_connect_server(database_url, tmp_path) as base_url:
        yield base_url


class Audit:
    """Runs axe on each page it is shown and keeps what it found, page by page."""

    def __init__(self, page: Page, screenshots: Screenshots) -> None:
        self.page = page
        self.axe = Axe()
        self.screenshots = screenshots
        self.findings: dict[str, list[str]] = {}

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        # Injected through the DevTools protocol, so the page's strict CSP does not block it.
        results: dict[str, Any] = self.axe.run(self.page).response
        self.findings[name] = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} — "
            + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            for violation in results["violations"]
            if violation["impact"] in BLOCKING
        ]
        self.screenshots.take(name)

    def assert_clean(self) -> None:
        problems = {name: found for name, found in self.findings.items() if found}
        report = "\n".join(
            f"{name}:\n" + "\n".join(f"  - {line}" for line in found)
            for name, found in problems.items()
        )
        assert not problems, f"axe found serious or critical problems:\n{report}"


@pytest.fixture
def audit(page: Page, screenshots: Screenshots) -> Audit:
    return Audit(page, screenshots)


def test_every_portal_page_passes_axe(server: str, page: Page, audit: Audit) -> None:
    base_url = server
    page.goto(f"{base_url}/portal/sign-in")
    audit.check("sign-in")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check("sign-in-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Connect", exact=True)).to_be_visible()
    audit.check("connect")

    page.goto(f"{base_url}/portal/connect/links/new")
    audit.check("link-builder")
    page.get_by_label("Reference ID").fill("r" * 256)
    expect(page.locator("#ref_id-error")).not_to_be_empty()
    audit.check("link-builder-checking-as-you-type")
    page.get_by_label("Reference ID").fill("cust-1")
    page.get_by_label("Pacific Gas & Electric").check()
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("img", name="QR code of the Connect link")).to_be_visible()
    audit.check("link-with-qr-code")

    page.goto(f"{base_url}/portal/connect/links/bulk")
    audit.check("bulk-links")
    page.get_by_role("button", name="Create links").click()
    expect(page.locator("#file-error")).to_be_visible()
    audit.check("bulk-links-without-a-file")
    page.get_by_label("CSV file of Reference IDs").set_input_files(
        files=[{"name": "refs.csv", "mimeType": "text/csv", "buffer": b"cust-1\n\nZo\xc3\xab\n"}]
    )
    page.get_by_role("button", name="Create links").click()
    expect(page.get_by_role("heading", name="1 link ready")).to_be_visible()
    audit.check("bulk-links-with-skipped-rows")

    for tab in ("meters", "sessions", "developers", "developers/activity"):
        page.goto(f"{base_url}/portal/{tab}")
        audit.check(tab)
    page.goto(f"{base_url}/portal/connect/links/new?flow=no-such-flow")
    audit.check("not-found")

    audit.assert_clean()


def test_every_journey_page_passes_axe(server: str, page: Page, audit: Audit) -> None:
    base_url = server
    page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge,sce&refId=a11y-1")
    audit.check("landing")
    page.get_by_role("button", name="Pacific Gas & Electric").click()
    expect(page.get_by_role("alert").first).to_be_visible()
    audit.check("landing-with-errors")
    page.get_by_label("My business").check()
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Company name").fill("Hopper Foods")
    page.get_by_role("button", name="Pacific Gas & Electric").click()
    expect(page.get_by_label("Username")).to_be_visible()
    audit.check("sandbox-sign-in")
    page.get_by_label("Username").fill("commercial")
    page.get_by_label("Password").fill("sandbox")
    page.get_by_role("button", name="Sign in and share").click()
    expect(page.get_by_text("Connected · 3 meters")).to_be_visible()
    audit.check("session-page")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check("session-page-refusing-to-continue")

    page.goto(f"{base_url}/acme/ca-homes?refId={'r' * 256}")
    audit.check("error-page-bad-link")
    page.goto(f"{base_url}/acme/no-such-flow")
    audit.check("error-page-not-found")

    audit.assert_clean()
