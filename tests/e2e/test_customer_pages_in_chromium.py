"""The customer's pages in a real Chromium, as a customer meets them at a desktop's and a phone's
size: the partner's brand in any colour with every text and focus ring readable, the steps, the
busy buttons, the failures in plain words, and axe-core finding nothing on any of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import Organization
from leap_connect.utilities.registry import UTILITY_IDS
from tests.e2e.conftest import Screenshots
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journey_in_chromium import _seed, run_async, serve_partner_thank_you_page
from tests.support.factories import Partner
from tests.support.server import leap_connect_server

pytestmark = pytest.mark.e2e

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SUPPORT = "help@acme.example"

# Every visible text's colour against the colour behind it, and its WCAG AA ratio (3:1 for large
# text: 24px, or 18.66px bold). Colours are read as the browser computed them.
TEXT_PAIRS = """() => {
  const rgb = (value) => { const m = value.match(/[\\d.]+/g); return m ? m.map(Number) : null; };
  const luminance = ([r, g, b]) => [r, g, b].map((c) => {
    c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour && (colour.length < 4 || colour[3] > 0)) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg, .visually-hidden, [hidden]")) continue;
    const text = [...element.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent.trim()).join("");
    if (!text || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(rgb(style.color).slice(0, 3), background(element));
    found.push({text: text.slice(0, 40), ratio: Math.round(got * 100) / 100, need});
  }
  return found;
}"""

# The focused element's outline against what is behind it (its parent's background).
FOCUS_RING = """() => {
  const element = document.activeElement;
  const rgb = (value) => value.match(/[\\d.]+/g).map(Number).slice(0, 3);
  const luminance = ([r, g, b]) => [r, g, b].map((c) => {
    c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  let behind = [255, 255, 255];
  for (let node = element.parentElement; node; node = node.parentElement) {
    const value = getComputedStyle(node).backgroundColor.match(/[\\d.]+/g).map(Number);
    if (value.length < 4 || value[3] > 0) { behind = value.slice(0, 3); break; }
  }
  const style = getComputedStyle(element);
  const [x, y] = [luminance(rgb(style.outlineColor)), luminance(behind)].sort((p, q) => q - p);
  return {
    name: (element.textContent || element.name || element.tagName).trim().slice(0, 40),
    width: parseFloat(style.outlineWidth),
    ratio: Math.round(((x + 0.05) / (y + 0.05)) * 100) / 100,
  };
}"""


async def _brand(database_url: str, colour: str) -> None:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            organization = await session.scalar(
                select(Organization).where(Organization.name == "acme")
            )
            assert organization is not None
            organization.brand_color = colour
            organization.support_contact = SUPPORT
    finally:
        await engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Partner]]:
    partner = run_async(_seed(database_url))
    with leap_connect_server(database_url, tmp_path) as base_url:
        yield base_url, partner


UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}")
UTILITY_ID_TEXT = re.compile(
    r"(?<![\w-])(?:" + "|".join(re.escape(u) for u in UTILITY_IDS) + r")(?![\w-])"
)


class PlainWordsAudit(Audit):
    """axe-core, a screenshot, and no UUID, code point, field path or utility ID in what a
    customer reads on the page (its text and its accessible names)."""

    def check(self, name: str) -> None:
        super().check(name)
        spoken = self.page.evaluate(
            "() => [...document.querySelectorAll('[aria-label],[alt],[title]')]"
            ".map((e) => e.getAttribute('aria-label') || e.alt || e.title).join(' ')"
        )
        text = f"{self.page.locator('body').inner_text()} {spoken}"
        found = [
            pattern.pattern[:20]
            for pattern in (UUID_TEXT, UTILITY_ID_TEXT, re.compile(r"U\+[0-9A-F]{4}"))
            if pattern.search(text)
        ] + [phrase for phrase in ("path.", "query.", "Input should") if phrase in text]
        if found:
            self.findings.setdefault(name, []).append(f"not for customers: {found} in {text!r}")


def check_contrast(page: Page, where: str) -> list[str]:
    """Every text/background pair on the page, and every focus ring met by tabbing through it."""
    problems = [
        f"{where}: {pair['text']!r} has {pair['ratio']}:1, needs {pair['need']}:1"
        for pair in page.evaluate(TEXT_PAIRS)
        if pair["ratio"] < pair["need"]
    ]
    page.locator("body").focus()
    seen: set[str] = set()
    for _ in range(25):
        page.keyboard.press("Tab")
        ring: dict[str, Any] = page.evaluate(FOCUS_RING)
        if ring["name"] in seen:
            break
        seen.add(ring["name"])
        if ring["width"] < 2 or ring["ratio"] < 3:
            problems.append(f"{where}: focus ring on {ring['name']!r} {ring}")
    return problems


def sign_in_as(page: Page, username: str) -> None:
    expect(page.get_by_label("Username")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("sandbox")
    page.get_by_role("button", name="Sign in and share").click()


def decline_at_sandbox(page: Page) -> None:
    expect(page.get_by_label("Username")).to_be_visible()
    page.get_by_label("Username").fill("residential")
    page.get_by_label("Password").fill("sandbox")
    page.get_by_role("button", name="Deny").click()


@pytest.mark.parametrize("colour", ["#ff6a00", "#ffff00", "#000080"])
def test_every_text_and_focus_ring_reads_in_any_brand_colour(
    server: tuple[str, Partner], page: Page, database_url: str, colour: str
) -> None:
    base_url, _partner = server
    run_async(_brand(database_url, colour))
    problems: list[str] = []

    page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge,sce&refId=colour-1")
    expect(
        page.get_by_role("heading", name="Share your energy data with Acme Energy")
    ).to_be_visible()
    page.get_by_text("My utility isn't listed").click()
    problems += check_contrast(page, "landing")
    page.get_by_role("button", name="Pacific Gas & Electric").click()
    expect(page.locator("#error-summary")).to_be_visible()
    problems += check_contrast(page, "landing with errors")

    page.get_by_label("My home").check()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_role("button", name="Pacific Gas & Electric").click()
    decline_at_sandbox(page)
    expect(page.get_by_role("heading", name="You declined to share your data")).to_be_visible()
    problems += check_contrast(page, "declined")

    page.get_by_role("link", name="Choose another utility").click()
    expect(page.get_by_role("button", name="Connect SCE")).to_be_visible()
    problems += check_contrast(page, "session")

    page.goto(f"{base_url}/acme/ca-homes?refId=%E2%9C%93")
    problems += check_contrast(page, "bad link")
    page.goto(f"{base_url}/acme/no-such-flow")
    problems += check_contrast(page, "not found")

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("size", SIZES)
def test_the_journey_and_its_failures_at_desktop_and_phone_sizes(
    server: tuple[str, Partner], chromium: Browser, database_url: str, size: str
) -> None:
    base_url, _partner = server
    run_async(_brand(database_url, "#ff6a00"))
    context = chromium.new_context(viewport=SIZES[size])
    page = context.new_page()
    screenshots = Screenshots(page, f"customer-journey-{size}")
    audit = PlainWordsAudit(page, screenshots)
    serve_partner_thank_you_page(page)
    try:
        page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge,sce&refId=walk-1")
        progress = page.get_by_role("navigation", name="Your progress")
        expect(progress).to_contain_text("Your details")
        expect(progress).to_contain_text("Your utility")
        expect(progress).not_to_contain_text("Terms")
        expect(progress.locator("[aria-current=step]")).to_contain_text("Your details")
        expect(page.get_by_role("link", name=SUPPORT)).to_have_attribute(
            "href", f"mailto:{SUPPORT}"
        )
        audit.check("landing")

        page.get_by_role("button", name="Pacific Gas & Electric").click()
        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        expect(page.get_by_label("Full name")).to_have_attribute(
            "aria-describedby", "customer_name-error"
        )
        expect(page.locator("#customer_name-error")).to_contain_text("Error: Enter your full name.")
        audit.check("landing-with-errors")
        summary.get_by_role("link", name="Enter your full name.").click()
        expect(page.get_by_label("Full name")).to_be_focused()

        radio = page.get_by_label("My home").bounding_box()
        row = page.locator("label.radio").first.bounding_box()
        assert radio and row and row["height"] >= 44 and radio["width"] >= 20
        page.get_by_label("My home").check()
        page.get_by_label("Full name").fill("Ada Lovelace")
        page.get_by_label("E-mail").fill("ada@example.com")

        # Held on the page (a listener after the page's own): the button shows it is busy.
        page.evaluate("window.addEventListener('submit', (event) => event.preventDefault())")
        page.get_by_role("button", name="Pacific Gas & Electric").click()
        expect(page.get_by_role("button", name="Connecting to PG&E…")).to_be_disabled()
        expect(page.get_by_role("button", name="Southern California Edison")).to_be_disabled()
        screenshots.take("connecting-to-pge")
        # The pressed button's choice still goes with the form, though the button is disabled.
        with page.expect_navigation():
            page.evaluate("document.querySelector('form.card').submit()")

        decline_at_sandbox(page)
        expect(page.get_by_role("heading", name="You declined to share your data")).to_be_visible()
        expect(page.get_by_text("Contact Acme Energy at help@acme.example").first).to_be_visible()
        audit.check("declined")

        page.get_by_role("link", name="Choose another utility").click()
        expect(page.get_by_role("button", name="Connect PG&E")).to_be_visible()
        audit.check("session-nothing-connected")
        page.get_by_role("button", name="Connect SCE").click()
        sign_in_as(page, "utility-down")
        expect(page.get_by_role("heading", name="SCE is not answering right now")).to_be_visible()
        audit.check("utility-down")
        page.get_by_role("button", name="Try SCE again").click()
        sign_in_as(page, "residential")
        expect(page.get_by_text("Connected · 1 meter")).to_be_visible()
        expect(progress.locator("[aria-current=step]")).to_contain_text("Done")
        audit.check("session-connected")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Thanks from Acme Energy")).to_be_visible()

        # A slow utility: the customer waits on its page; when it answers too late for the page,
        # the grant is kept and recorded later, and our page says so, counting down to its next
        # look by itself (which of the two depends on the moment).
        page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge&refId=walk-slow")
        page.get_by_label("My home").check()
        page.get_by_label("Full name").fill("Ada Lovelace")
        page.get_by_label("E-mail").fill("ada@example.com")
        page.get_by_role("button", name="Pacific Gas & Electric").click()
        sign_in_as(page, "slow")
        settled = page.get_by_text(re.compile("^(Finishing your connection|Connected · 1 meter)$"))
        expect(settled).to_be_visible(timeout=20_000)
        if settled.inner_text() == "Finishing your connection":
            expect(page.get_by_text("This page checks again in")).to_be_visible()
            expect(page.get_by_role("link", name="Stop checking")).to_be_visible()
        audit.check("slow-utility")

        for name, path in [
            ("bad-link", "/acme/ca-homes?refId=%E2%9C%93"),
            ("unknown-utility", "/acme/ca-homes?requestedUtilities=xyz"),
            ("no-such-flow", "/acme/no-such-flow"),
            ("malformed-session", "/connect/sessions/not-a-session"),
            ("no-such-partner", "/nobody/ca-homes"),
        ]:
            page.goto(base_url + path)
            expect(page.locator("h1")).to_be_visible()
            text = page.locator("body").inner_text()
            assert "U+" not in text and "xyz" not in text and "path." not in text, text
            audit.check(name)

        page.goto(f"{base_url}/acme/ca-homes?requestedUtilities=pge,sce&refId=walk-2")
        page.get_by_role("link", name="Español").click()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.get_by_role("heading", name="Comparta sus datos de energía")).to_be_visible()
        audit.check("landing-in-spanish")
        page.get_by_role("button", name="Pacific Gas & Electric").click()
        expect(page.locator("#error-summary")).to_contain_text("Corrija estas 3 cosas")
        audit.check("landing-with-errors-in-spanish")
        page.goto(f"{base_url}/acme/ca-homes?refId=%E2%9C%93")
        expect(page.get_by_role("heading", name="Este enlace no está completo")).to_be_visible()
        audit.check("bad-link-in-spanish")
        audit.assert_clean()
    finally:
        context.close()
