"""A changed document is a new version; what was signed stays exactly as it was signed."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from leap_connect.esign.documents import document_sha256
from leap_connect.esign.signing import check_pdf_signature
from leap_connect.models import Document
from leap_connect.runtime import Runtime
from tests.functional.esign.conftest import (
    PARTICIPATION,
    agreements,
    business_signs_both,
    commercial_terms,
    instance_certificate,
    issue_api_key,
    pdf_text,
    put_terms,
)
from tests.support.browser import Browser
from tests.support.factories import Partner

REVISED = """# Participation agreement

You take part in **Acme Energy**'s demand response program, revised for the 2027 season.

1. You reduce your electricity use during events.
2. We pay you 75% of what we receive for the reduction.
"""


async def test_earlier_agreements_keep_showing_and_validating_against_the_old_text(
    browser: Browser, partner: Partner, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    signed_before = await business_signs_both(browser, "biz-old")
    [old_view] = signed_before.document.xpath("//a[text()='Participation agreement']/@href")
    await put_terms(runtime, partner.flow, commercial_terms(participation=REVISED))

    await business_signs_both(browser, "biz-new")

    old, _, new, _ = await agreements(runtime)
    key = {"Authorization": f"Bearer {await issue_api_key(runtime, partner, ['meters:read'])}"}
    old_json = (await client.get(f"/v2/agreements/{old.id}", headers=key)).json()
    new_json = (await client.get(f"/v2/agreements/{new.id}", headers=key)).json()
    assert (old_json["partner_reference"], new_json["partner_reference"]) == ("biz-old", "biz-new")
    assert old_json["document"]["version"] == 1
    assert old_json["document"]["text_markdown"] == PARTICIPATION
    assert old_json["document"]["sha256"] == document_sha256(PARTICIPATION)
    assert new_json["document"]["version"] == 2
    assert new_json["document"]["sha256"] == document_sha256(REVISED)
    assert new_json["document"]["text_markdown"] == REVISED

    certificate = await instance_certificate(runtime)
    old_pdf = (await client.get(f"/v2/agreements/{old.id}/pdf", headers=key)).content
    assert (await check_pdf_signature(old_pdf, certificate)).ok
    old_text = pdf_text(old_pdf)
    assert document_sha256(PARTICIPATION) in old_text
    assert "revised" not in old_text

    old_page = await browser.open(old_view)
    assert "You signed this document" in old_page.text
    assert "Version 1" in old_page.text and "revised" not in old_page.text

    async with runtime.sessionmaker() as db:
        versions = list(
            (
                await db.execute(
                    select(Document)
                    .where(Document.slug == "participation-agreement")
                    .order_by(Document.version)
                )
            ).scalars()
        )
    assert [(d.version, d.is_current) for d in versions] == [(1, False), (2, True)]
    assert versions[0].body_markdown == PARTICIPATION
    assert versions[0].sha256 == document_sha256(PARTICIPATION)


async def test_setting_the_same_text_again_makes_no_new_version(
    partner: Partner, runtime: Runtime
) -> None:
    await put_terms(runtime, partner.flow, commercial_terms())
    await put_terms(runtime, partner.flow, commercial_terms())

    async with runtime.sessionmaker() as db:
        documents = list((await db.execute(select(Document))).scalars())
    assert sorted((d.slug, d.version, d.is_current) for d in documents) == [
        ("data-sharing-addendum", 1, True),
        ("participation-agreement", 1, True),
    ]
