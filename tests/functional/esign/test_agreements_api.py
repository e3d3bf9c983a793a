"""Partners read signed agreements and their signed PDFs through the API."""

from __future__ import annotations

import base64
import hashlib
import uuid

import httpx
import pytest

from leap_connect.esign.documents import document_sha256
from leap_connect.esign.signing import check_pdf_signature
from leap_connect.models import Meter
from leap_connect.runtime import Runtime
from tests.functional.esign.conftest import (
    ADDENDUM,
    PARTICIPATION,
    agreements,
    business_signs_both,
    instance_certificate,
    issue_api_key,
    pdf_text,
)
from tests.support.browser import Browser
from tests.support.factories import Partner, create_partner


@pytest.fixture
async def api_key(runtime: Runtime, partner: Partner) -> dict[str, str]:
    token = await issue_api_key(runtime, partner, ["meters:read"])
    return {"Authorization": f"Bearer {token}"}


async def a_meter_id(runtime: Runtime) -> uuid.UUID:
    async with runtime.sessionmaker() as session:
        meter = (await session.execute(Meter.__table__.select().limit(1))).first()
    assert meter is not None
    return uuid.UUID(str(meter.id))


async def test_partner_finds_a_meters_agreements_with_the_record_and_the_document_signed(
    browser: Browser, partner: Partner, runtime: Runtime, api_key: dict[str, str]
) -> None:
    await business_signs_both(browser, "biz-42")
    meter_id = await a_meter_id(runtime)

    response = await browser.client.get(f"/v2/meters/{meter_id}/agreements", headers=api_key)

    assert response.status_code == 200, response.text
    listed = response.json()["agreements"]
    assert [a["document"]["slug"] for a in listed] == [
        "data-sharing-addendum",
        "participation-agreement",
    ]  # newest first
    addendum, participation = listed
    assert participation["signer_name"] == "Grace Hopper"
    assert participation["signer_email"] == "grace@example.com"
    assert participation["signer_title"] == "Operations director"
    assert participation["company_name"] == "Hopper Foods"
    assert participation["partner_reference"] == "biz-42"
    assert str(meter_id) in participation["meter_ids"] and len(participation["meter_ids"]) == 3
    assert participation["ip_address"] and participation["user_agent"]
    assert participation["consented_at"] <= participation["signed_at"]
    assert participation["document"]["version"] == 1
    assert participation["document"]["text_markdown"] == PARTICIPATION
    assert participation["document"]["sha256"] == document_sha256(PARTICIPATION)
    assert addendum["document"]["sha256"] == document_sha256(ADDENDUM)

    one = await browser.client.get(
        f"/v2/agreements/{participation['agreement_id']}", headers=api_key
    )
    assert one.status_code == 200
    assert one.json() == {k: v for k, v in participation.items() if k != "meter_present_at_signing"}
    assert participation["meter_present_at_signing"] is True


async def test_partner_downloads_the_signed_pdf_that_validates_and_shows_the_facts(
    browser: Browser, partner: Partner, runtime: Runtime, api_key: dict[str, str]
) -> None:
    await business_signs_both(browser)
    agreement = (await agreements(runtime))[0]

    response = await browser.client.get(f"/v2/agreements/{agreement.id}/pdf", headers=api_key)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    digest = hashlib.sha256(response.content).digest()
    assert response.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert hashlib.sha256(response.content).hexdigest() == agreement.pdf_sha256
    check = await check_pdf_signature(response.content, await instance_certificate(runtime))
    assert check.ok, check
    text = pdf_text(response.content)
    assert "Grace Hopper" in text
    assert document_sha256(PARTICIPATION) in text
    assert "Audit trail" in text and str(agreement.id) in text


async def test_the_agreements_api_needs_a_key_with_meters_read(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await business_signs_both(browser)
    agreement = (await agreements(runtime))[0]
    connect_only = await issue_api_key(runtime, partner, ["connect:read"])

    anonymous = await browser.client.get(f"/v2/agreements/{agreement.id}")
    wrong_scope = await browser.client.get(
        f"/v2/agreements/{agreement.id}/pdf", headers={"Authorization": f"Bearer {connect_only}"}
    )

    assert anonymous.status_code == 401
    assert wrong_scope.status_code == 403
    assert wrong_scope.headers["content-type"] == "application/problem+json"
    assert "meters:read" in wrong_scope.json()["detail"]


async def test_another_organizations_agreements_and_meters_are_not_found(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await business_signs_both(browser)
    agreement = (await agreements(runtime))[0]
    meter_id = await a_meter_id(runtime)
    globex = await create_partner(runtime, name="globex", flow_title="ca-globex")
    key = {"Authorization": f"Bearer {await issue_api_key(runtime, globex, ['meters:read'])}"}

    responses = [
        await browser.client.get(path, headers=key)
        for path in (
            f"/v2/agreements/{agreement.id}",
            f"/v2/agreements/{agreement.id}/pdf",
            f"/v2/meters/{meter_id}/agreements",
            f"/v2/agreements/{uuid.uuid4()}",
        )
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
    assert all(str(agreement.id) not in r.text or "no agreement" in r.text for r in responses)


async def test_the_signer_downloads_their_own_copy_from_the_terms_page(
    browser: Browser, partner: Partner, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    signed = await business_signs_both(browser)
    [pdf_link, *_] = signed.document.xpath("//a[@download]/@href")

    own_copy = await client.get(pdf_link)

    assert own_copy.status_code == 200
    assert own_copy.headers["content-type"] == "application/pdf"
    check = await check_pdf_signature(own_copy.content, await instance_certificate(runtime))
    assert check.ok
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        assert (await other.get(pdf_link)).status_code == 404
