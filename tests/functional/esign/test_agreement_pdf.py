"""The signed PDF: pyHanko validates it, any change breaks it, and the signing certificate is the
instance's own, generated once or configured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from leap_connect.app import create_app
from leap_connect.esign.documents import document_sha256
from leap_connect.esign.signing import check_pdf_signature, generate_identity
from leap_connect.models import utc_now
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.functional.esign.conftest import (
    PARTICIPATION,
    agreements,
    business_signs_both,
    commercial_terms,
    instance_certificate,
    pdf_text,
    put_terms,
)
from tests.support.browser import Browser
from tests.support.factories import Partner, create_partner


async def signed_pdf(browser: Browser, runtime: Runtime) -> bytes:
    await business_signs_both(browser)
    agreement = (await agreements(runtime))[0]
    assert agreement.pdf is not None
    return agreement.pdf


async def test_the_signed_pdf_validates_and_carries_the_signer_and_the_document_hash(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    data = await signed_pdf(browser, runtime)

    check = await check_pdf_signature(data, await instance_certificate(runtime))

    assert (check.intact, check.valid, check.trusted, check.covers_whole_file) == (
        True,
        True,
        True,
        True,
    )
    assert check.signer and "Leap Connect document signing" in check.signer
    text = pdf_text(data)
    assert "/s/ Grace Hopper" in text
    assert document_sha256(PARTICIPATION) in text
    assert "biz-9" in text and "grace@example.com" in text and "Hopper Foods" in text
    assert "Consent to electronic records and signatures" in text


@pytest.mark.parametrize("where", ["creation-date", "middle"])
async def test_a_pdf_with_one_byte_changed_fails_validation(
    browser: Browser, partner: Partner, runtime: Runtime, where: str
) -> None:
    data = bytearray(await signed_pdf(browser, runtime))
    if where == "creation-date":  # still a readable PDF, with another date in its metadata
        position = data.index(b"/CreationDate (D:") + len(b"/CreationDate (D:") + 3
    else:
        position = len(data) // 3
    data[position] = ord("1") if data[position] != ord("1") else ord("2")

    check = await check_pdf_signature(bytes(data), await instance_certificate(runtime))

    assert not check.ok
    assert not check.intact


async def test_text_added_after_signing_is_reported(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    data = await signed_pdf(browser, runtime)
    appended = data + b"\n% a note added later\n"

    check = await check_pdf_signature(appended, await instance_certificate(runtime))

    assert check.intact and not check.covers_whole_file and not check.ok


async def test_the_generated_certificate_is_made_once_and_kept(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    await business_signs_both(browser)
    first, second = await agreements(runtime)
    certificate = await instance_certificate(runtime)

    for agreement in (first, second):
        assert agreement.pdf is not None
        assert (await check_pdf_signature(agreement.pdf, certificate)).ok


async def test_a_configured_certificate_signs_the_pdfs(settings: Settings, tmp_path: Path) -> None:
    identity = generate_identity("https://partner-signing.example", now=utc_now())
    (tmp_path / "cert.pem").write_bytes(identity.certificate_pem)
    (tmp_path / "key.pem").write_bytes(identity.private_key_pem)
    configured = settings.model_copy(
        update={"signing_certificate": tmp_path / "cert.pem", "signing_key": tmp_path / "key.pem"}
    )
    app = create_app(configured)
    runtime: Runtime = app.state.runtime
    runtime.http.transport = httpx.ASGITransport(app=app)
    partner = await create_partner(runtime)
    await put_terms(runtime, partner.flow, commercial_terms())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        data = await signed_pdf(Browser(client), runtime)
    await runtime.engine.dispose()

    check = await check_pdf_signature(data, identity.certificate_pem)
    assert check.ok
    assert check.signer and "partner-signing.example" in check.signer
