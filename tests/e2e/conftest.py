"""A real Chromium (Debian's package) driven by Playwright, with screenshots kept as artefacts."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("LEAP_CONNECT_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@pytest.fixture
def chromium() -> Iterator[Browser]:
    # Per test, not per session: Playwright's sync API keeps an event loop running in this thread
    # while it is open, which would break the async tests that share the worker.
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") or os.environ.get("LEAP_CONNECT_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; run `make browser`")
        pytest.skip("Chromium is not installed here; `make browser` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    yield page
    context.close()


class Screenshots:
    def __init__(self, page: Page, test_name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshots(page: Page, request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(page, request.node.name)
