"""A New York business signs the terms before its meters arrive: the agreement covers them too."""

from __future__ import annotations

from datetime import timedelta

from leap_connect.runtime import Runtime
from tests.functional.esign.conftest import SIGNER, commercial_terms, issue_api_key, put_terms
from tests.functional.portal.conftest import ADMIN_EMAIL, Portal, add_user
from tests.functional.utilityapi.conftest import METERS_DELAY, Clock, RunJobs, meters_of
from tests.functional.utilityapi.test_new_york_journey import connect_coned_and_oru
from tests.support.browser import Browser
from tests.support.factories import Partner


async def test_an_agreement_signed_before_the_meters_arrived_covers_them(
    browser: Browser, partner: Partner, connect: Runtime, clock: Clock, run_jobs: RunJobs
) -> None:
    await put_terms(connect, partner.flow, commercial_terms())
    session_page = await connect_coned_and_oru(browser)
    terms = await browser.submit(session_page, button=("action", "continue"))
    for _ in range(2):
        terms = await browser.submit(terms, button=("action", "sign"), fields=SIGNER)
    assert "Documents signed" in terms.text, terms.text
    assert await meters_of(connect) == []  # signed while UtilityAPI still lists no meters

    clock.advance(METERS_DELAY)
    await run_jobs(later=timedelta(minutes=4))
    meters = await meters_of(connect)
    assert len(meters) == 6

    token = await issue_api_key(connect, partner, ["meters:read"])
    response = await browser.client.get(
        f"/v2/meters/{meters[0].id}/agreements", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    listed = response.json()["agreements"]
    assert {a["document"]["slug"] for a in listed} == {
        "participation-agreement",
        "data-sharing-addendum",
    }
    assert [a["meter_present_at_signing"] for a in listed] == [False, False]
    assert [a["meter_ids"] for a in listed] == [[], []]  # none was there at signing

    await add_user(connect, partner, ADMIN_EMAIL, "admin")
    portal = Portal(browser.client)
    assert (await portal.sign_in(ADMIN_EMAIL)).status_code == 303
    page = await portal.open(f"/portal/meters/{meters[0].id}")
    rows = page.document.xpath("//table[contains(@class,'agreements')]/tbody/tr")
    assert [" ".join(row.xpath("./td")[3].text_content().split()) for row in rows] == [
        "Found after signing, covered"
    ] * 2
    [pdf_link, _] = page.document.xpath("//table[contains(@class,'agreements')]//a/@href")
    pdf = await browser.client.get(str(pdf_link))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
