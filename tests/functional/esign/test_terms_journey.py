"""The terms step of the journey over HTTP: review, e-sign, and only then finish."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from leap_connect.models import AgreementMeter, ConnectSession, Meter, WebhookEvent
from leap_connect.runtime import Runtime
from tests.functional.esign.conftest import (
    BUSINESS,
    SIGNER,
    agreements,
    business_connects_sce,
    commercial_terms,
    connect_utility,
    put_terms,
    sign,
)
from tests.support.browser import Browser, Page
from tests.support.factories import THANK_YOU_URL, Partner


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


async def session_status(runtime: Runtime, connect_session_id: str) -> str:
    async with runtime.sessionmaker() as session:
        connect_session = await session.get(ConnectSession, uuid.UUID(connect_session_id))
        assert connect_session is not None
        return connect_session.status


def assert_thank_you(page: Page, ref_id: str) -> dict[str, list[str]]:
    location = page.response.headers.get("location", "")
    assert page.status == 303 and location.startswith(THANK_YOU_URL + "?"), page.text
    params = parse_qs(urlsplit(location).query)
    assert params["refId"] == [ref_id] and params["status"] == ["completed"]
    return params


async def test_business_customer_signs_both_documents_and_lands_on_thank_you_page(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=sce&refId=biz-9")
    assert "Review and sign the additional terms (businesses only)." in landing.text

    session_page = await business_connects_sce(browser)
    first = await browser.submit(session_page, button=("action", "continue"))

    assert first.status == 200, first.text
    assert path_of(first).endswith("/terms/participation-agreement")
    assert "Additional terms · document 1 of 2" in first.text
    assert "Participation agreement" in first.text
    assert "You reduce your electricity use during events." in first.text
    assert "Consent to electronic records and signatures" in first.text
    assert "You have the right to receive this document on paper instead." in first.text
    form = first.form_with_button("action", "sign")
    assert {"csrf_token", "consent", "signer_name", "signer_title", "company_name"} <= set(
        form.inputs.keys()
    )
    assert form.inputs["consent"].get("value") == "yes"
    assert form.inputs["company_name"].get("value") == "Hopper Foods"

    second = await sign(browser, first)
    assert path_of(second).endswith("/terms/data-sharing-addendum"), second.text
    assert "Additional terms · document 2 of 2" in second.text

    signed = await sign(browser, second)
    assert "Documents signed" in signed.text
    assert signed.text.count("Signed") >= 2

    finished = await browser.submit(signed, button=("action", "continue"))
    params = assert_thank_you(finished, "biz-9")
    assert await session_status(runtime, params["connect_session_id"][0]) == "COMPLETED"

    recorded = await agreements(runtime)
    assert [a.signer_name for a in recorded] == ["Grace Hopper", "Grace Hopper"]
    assert all(a.signer_title == "Operations director" for a in recorded)
    assert all(a.company_name == "Hopper Foods" for a in recorded)
    assert all(a.signer_email == "grace@example.com" for a in recorded)
    assert all(a.partner_reference == "biz-9" for a in recorded)
    assert all(len(a.meter_ids) == 3 for a in recorded)
    assert all(a.consented_at <= a.signed_at for a in recorded)
    assert all(a.pdf and a.pdf.startswith(b"%PDF") and a.pdf_sha256 for a in recorded)
    async with runtime.sessionmaker() as db:
        meter_ids = set((await db.execute(select(Meter.id))).scalars())
        covered = (await db.execute(select(AgreementMeter.meter_id))).scalars()
        assert {str(m) for m in meter_ids} == set(recorded[0].meter_ids)
        assert sorted(map(str, covered)) == sorted(recorded[0].meter_ids + recorded[1].meter_ids)
        signed_events = (
            await db.execute(
                select(WebhookEvent).where(WebhookEvent.event_type == "agreement.signed")
            )
        ).scalars()
        payloads = [event.payload["agreement"] for event in signed_events]
    assert [p["document"]["slug"] for p in payloads] == [
        "participation-agreement",
        "data-sharing-addendum",
    ]
    assert all(p["signer_name"] == "Grace Hopper" for p in payloads)


async def test_finishing_before_both_documents_are_signed_is_refused_with_a_clear_page(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    session_page = await business_connects_sce(browser)
    first = await browser.submit(session_page, button=("action", "continue"))
    assert "Sign 2 documents to finish: this one, then Data-sharing addendum." in first.text
    await sign(browser, first)

    session_page = await browser.open(urlsplit(session_page.url).path)
    refused = await browser.submit(session_page, button=("action", "continue"))

    assert refused.status == 200
    assert path_of(refused).endswith("/terms/data-sharing-addendum")
    assert "Sign this document to finish." in refused.text
    assert refused.response.history == [] and all(
        not r.headers.get("location", "").startswith(THANK_YOU_URL) for r in browser.history
    )
    connect_session_id = path_of(session_page).split("/")[3]
    assert await session_status(runtime, connect_session_id) == "UPDATED"
    assert len(await agreements(runtime)) == 1

    overview = await browser.open(f"/connect/sessions/{connect_session_id}/terms")
    assert "Additional terms" in overview.text
    assert "Review and sign" in overview.text
    with pytest.raises(AssertionError):
        overview.form_with_button("action", "continue")


async def test_home_customer_of_the_same_flow_signs_nothing(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=home-1")
    session_page = await connect_utility(
        browser,
        landing,
        "pge",
        "residential",
        {
            "customer_type": "residential",
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
        },
    )

    finished = await browser.submit(session_page, button=("action", "continue"))

    assert_thank_you(finished, "home-1")
    assert await agreements(runtime) == []


async def test_document_text_is_shown_with_its_html_escaped_and_no_script_links(
    browser: Browser, partner: Partner
) -> None:
    session_page = await business_connects_sce(browser)
    first = await browser.submit(session_page, button=("action", "continue"))
    addendum = await sign(browser, first)

    html = addendum.response.text
    assert "&lt;script&gt;alert(&quot;addendum&quot;)&lt;/script&gt;" in html
    assert addendum.document.xpath("//script[not(@src='/static/connect.js')]") == []
    assert "<script>" not in html
    assert 'href="javascript:' not in html
    links = addendum.document.xpath("//div[@class='document']//a")
    assert [link.get("href") for link in links] == ["https://acme.example/privacy"]
    assert addendum.document.xpath("//div[@class='document']//h1") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"consent": ""}, "Tick the box to agree to use electronic records and signatures."),
        ({"signer_name": "   "}, "Type your full name to sign."),
        ({"signer_name": "G" * 10_000}, "Your name can be at most 200 characters."),
        ({"signer_name": "Grace\u202eeppoH"}, "Your name cannot contain control or formatting"),
        ({"signer_title": ""}, "Enter your title."),
        ({"company_name": ""}, "Enter your company's name."),
    ],
    ids=["no-consent", "empty-name", "10000-character-name", "bidi-override", "no-title", "no-co"],
)
async def test_a_signature_with_a_missing_or_bad_field_is_refused_and_nothing_is_recorded(
    browser: Browser,
    partner: Partner,
    runtime: Runtime,
    fields: dict[str, str],
    message: str,
) -> None:
    session_page = await business_connects_sce(browser)
    page = await browser.submit(session_page, button=("action", "continue"))

    refused = await sign(browser, page, fields)

    assert refused.status == 400
    assert "Please correct" in refused.text
    assert message in refused.text
    assert path_of(refused).endswith("/terms/participation-agreement")
    assert await agreements(runtime) == []


async def test_html_in_the_signer_name_is_kept_as_text_and_shown_harmlessly(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    name = '<b onmouseover="alert(1)">Grace</b> <script>alert(2)</script>'
    session_page = await business_connects_sce(browser)
    page = await browser.submit(session_page, button=("action", "continue"))
    await sign(browser, page, {"signer_name": name})

    signed_page = await browser.open(urlsplit(page.url).path)

    assert f"Signed electronically by {name}" in signed_page.text
    assert signed_page.document.xpath("//main//b | //main//script") == []
    [agreement] = await agreements(runtime)
    assert agreement.signer_name == name


async def test_a_double_click_on_sign_records_one_agreement(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    session_page = await business_connects_sce(browser)
    page = await browser.submit(session_page, button=("action", "continue"))

    first = await sign(browser, page)
    again = await sign(browser, page)

    assert path_of(first) == path_of(again)
    assert len(await agreements(runtime)) == 1


async def test_terms_pages_are_only_for_the_browser_that_started_the_session(
    browser: Browser, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    session_page = await business_connects_sce(browser)
    page = await browser.submit(session_page, button=("action", "continue"))
    stranger = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))

    async with stranger:
        seen = await stranger.get(urlsplit(page.url).path)
        forged = await stranger.post(urlsplit(page.url).path, data=SIGNER | {"action": "sign"})
    without_token = await client.post(urlsplit(page.url).path, data=SIGNER | {"action": "sign"})

    assert seen.status_code == 404
    assert forged.status_code == 403
    assert without_token.status_code == 403
    assert "This form has expired" in without_token.text
    assert await agreements(runtime) == []


async def test_a_document_changed_while_the_customer_reads_it_is_shown_again_before_signing(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    session_page = await business_connects_sce(browser)
    page = await browser.submit(session_page, button=("action", "continue"))
    changed = commercial_terms(participation="# Participation agreement\n\nNew terms apply.\n")
    await put_terms(runtime, partner.flow, changed)

    refused = await sign(browser, page)

    assert refused.status == 409
    assert "This document was updated while you were reading it." in refused.text
    assert "New terms apply." in refused.text and "Version 2" in refused.text
    assert await agreements(runtime) == []
    signed = await sign(browser, refused)
    assert path_of(signed).endswith("/terms/data-sharing-addendum")


async def test_a_flow_may_put_the_terms_before_the_utility(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await put_terms(runtime, partner.flow, commercial_terms(), before_authorization=True)
    landing = await browser.open("/acme/ca-homes?requestedUtilities=sce&refId=biz-10")
    steps = [li.text_content() for li in landing.document.xpath("//ol[@class='steps']/li")]
    assert steps[1].startswith("Review and sign the additional terms")

    first = await browser.submit(landing, button=("utility_id", "sce"), fields=BUSINESS)
    assert path_of(first).endswith("/terms/participation-agreement"), first.text
    signed = await sign(browser, await sign(browser, first))
    assert "Documents signed" in signed.text

    at_utility = await browser.submit(
        signed, button=("utility_id", "sce"), follow=False
    )  # "Continue to Southern California Edison"
    assert at_utility.status == 303
    assert urlsplit(at_utility.response.headers["location"]).path == "/sandbox/sce/oauth/authorize"
    [first_agreement, _] = await agreements(runtime)
    assert first_agreement.meter_ids == []
    async with runtime.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(AgreementMeter)) == 0
