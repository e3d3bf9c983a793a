"""The landing page validates the link and never writes; its form re-validates everything."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from leap_connect.models import ConnectFlow, ConnectSession, UtilityAuthorization
from leap_connect.runtime import Runtime
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, Partner, create_partner

DETAILS = RESIDENTIAL_DETAILS


@pytest.fixture
def browser(client: httpx.AsyncClient) -> Browser:
    return Browser(client)


async def row_count(runtime: Runtime, model: type) -> int:
    async with runtime.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def test_opening_a_link_writes_nothing(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    for _ in range(3):
        page = await browser.open("/acme/ca-homes/?requestedUtilities=pge&refId=cust-1")
        assert page.status == 200
    assert await row_count(runtime, ConnectSession) == 0


async def test_ref_id_of_255_characters_works_end_to_end(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    ref_id = "r" * 255
    landing = await browser.open(f"/acme/ca-homes?refId={ref_id}")
    assert landing.status == 200
    await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS, follow=False)
    async with runtime.sessionmaker() as db:
        stored = (await db.execute(select(ConnectSession.partner_reference))).scalar_one()
    assert stored == ref_id


async def test_ref_id_of_256_characters_is_refused_in_the_partners_words(
    browser: Browser, partner: Partner
) -> None:
    page = await browser.open(f"/acme/ca-homes?refId={'r' * 256}")
    assert page.status == 400
    assert "This link is not complete" in page.text
    assert "Please open the link from Acme Energy again" in page.text
    assert "refId" not in page.text and "255" not in page.text


async def test_ref_id_with_non_ascii_is_refused_without_quoting_it(
    browser: Browser, partner: Partner
) -> None:
    page = await browser.open("/acme/ca-homes?refId=%E2%9C%93")
    assert page.status == 400
    assert "This link is not complete" in page.text
    assert "U+" not in page.text and "✓" not in page.text and "ASCII" not in page.text


async def test_percent_encoded_ref_id_is_decoded(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?refId=cust%2042%2F7%26x")
    await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS, follow=False)
    async with runtime.sessionmaker() as db:
        stored = (await db.execute(select(ConnectSession.partner_reference))).scalar_one()
    assert stored == "cust 42/7&x"


async def test_unknown_organization_is_a_404_page(browser: Browser, partner: Partner) -> None:
    page = await browser.open("/nobody/ca-homes")
    assert page.status == 404
    assert page.response.headers["content-type"].startswith("text/html")
    assert "We could not find this partner" in page.text
    assert "Questions? Contact the company that sent you the link." in page.text


async def test_unknown_flow_is_a_404_page(browser: Browser, partner: Partner) -> None:
    page = await browser.open("/acme/no-such-flow")
    assert page.status == 404
    assert "Acme Energy has no sign-up page at this address" in page.text


async def test_unknown_utility_is_refused_without_listing_our_ids(
    browser: Browser, partner: Partner
) -> None:
    page = await browser.open("/acme/ca-homes?requestedUtilities=pge,xyz")
    assert page.status == 400
    assert "This link names a utility we cannot connect here" in page.text
    assert "Please ask Acme Energy for a new link." in page.text
    assert "xyz" not in page.text and "cecony-utilityapi" not in page.text


async def test_utility_the_flow_does_not_offer_is_refused(
    browser: Browser, partner: Partner
) -> None:
    page = await browser.open("/acme/ca-homes?requestedUtilities=cecony-utilityapi")
    assert page.status == 400
    assert "does not offer on this page" in page.text
    assert "cecony" not in page.text


async def test_requested_utilities_are_trimmed_case_insensitive_and_deduplicated(
    browser: Browser, partner: Partner
) -> None:
    page = await browser.open("/acme/ca-homes?requestedUtilities=%20PGE%20,sce,pge")
    buttons = [b.get("value") for b in page.document.xpath("//button[@name='utility_id']")]
    assert buttons == ["pge", "sce"]


async def test_edited_form_cannot_choose_a_utility_the_link_did_not_offer(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge")
    form = landing.form_with_button("utility_id", "pge")
    data = dict(form.form_values()) | DETAILS | {"utility_id": "sce"}
    response = await browser.client.post(landing.url, data=data)
    assert response.status_code == 400
    assert "Choose one of the utilities listed here." in response.text
    assert await row_count(runtime, UtilityAuthorization) == 0


async def test_form_without_csrf_token_is_refused(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await browser.open("/acme/ca-homes")
    response = await browser.client.post("/acme/ca-homes", data=DETAILS | {"utility_id": "pge"})
    assert response.status_code == 403
    assert await row_count(runtime, ConnectSession) == 0


async def test_missing_details_are_shown_next_to_their_fields(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes")
    page = await browser.submit(
        landing,
        button=("utility_id", "pge"),
        fields={"customer_name": "", "customer_email": "not-an-email"},
    )
    assert page.status == 400
    assert "Choose whether this is a home or a business." in page.text
    assert "Enter your full name." in page.text
    assert "Enter an e-mail address like name@example.com." in page.text
    assert await row_count(runtime, ConnectSession) == 0


async def test_a_flow_disabled_after_its_page_was_shown_starts_no_session(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge")
    assert landing.status == 200
    async with runtime.sessionmaker() as db, db.begin():
        flow = await db.get(ConnectFlow, partner.flow.id)
        assert flow is not None
        flow.enabled = False
    # The page may still be shown for a few seconds (from memory); its form reads the flow afresh.
    again = await browser.open("/acme/ca-homes?requestedUtilities=pge")
    assert again.status == 200
    page = await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS)
    assert page.status == 404
    assert "Acme Energy has no sign-up page at this address" in page.text
    assert await row_count(runtime, ConnectSession) == 0


async def test_a_flow_created_after_its_link_was_tried_works_at_once(
    browser: Browser, runtime: Runtime
) -> None:
    assert (await browser.open("/acme/ca-homes")).status == 404
    await create_partner(runtime)
    assert (await browser.open("/acme/ca-homes")).status == 200


@pytest.mark.parametrize("path", ["/Acme/ca-homes", "/acme/CA-Homes", "/acme/ca_homes"])
async def test_names_no_link_can_have_get_the_not_found_page(
    browser: Browser, partner: Partner, path: str
) -> None:
    page = await browser.open(path)
    assert page.status == 404
    assert "Please check the link you were given." in page.text
