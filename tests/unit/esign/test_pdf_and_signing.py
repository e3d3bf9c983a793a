"""The agreement PDF and its signature, made and checked without a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdf
import pytest

from leap_connect.esign.disclosure import esign_disclosure
from leap_connect.esign.documents import DocumentProblem, document_sha256
from leap_connect.esign.pdf import (
    AgreementFacts,
    MeterFact,
    check_document_layout,
    render_agreement_pdf,
)
from leap_connect.esign.signing import (
    SigningIdentity,
    check_pdf_signature,
    generate_identity,
    sign_pdf,
)

SIGNED_AT = datetime(2026, 11, 28, 10, 5, 0, 130000, tzinfo=UTC)
TEXT = "# Participation agreement\n\n## Scope\n\nYou reduce your use *during* **events**.\n"


def facts(**changes: object) -> AgreementFacts:
    values: dict[str, object] = {
        "agreement_id": "3f0c2a4e-5b1d-4c8e-9a7f-2d6b8e1c0a93",
        "partner_name": "Acme Energy",
        "flow_title": "NY businesses (ny)",
        "customer_type": "commercial",
        "document_title": "Participation agreement",
        "document_slug": "participation-agreement",
        "document_version": 3,
        "document_sha256": document_sha256(TEXT),
        "document_markdown": TEXT,
        "signer_name": "Zoë O'Brien-Łukasiewicz",
        "signer_email": "zoe@example.com",
        "signer_title": "Facilities manager",
        "company_name": "Hopper Foods",
        "connect_session_id": "9b2e7c1a-0d4f-4e8b-a6c3-5f1e2d7b8a90",
        "partner_reference": "biz-9",
        "meters": (MeterFact("0b5f6a8e", "ConEd meter 1009876543, 4 Irving Pl, New York"),),
        "consented_at": SIGNED_AT,
        "signed_at": SIGNED_AT,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 " + "(a very long user agent) " * 30,
        "disclosure": esign_disclosure("Acme Energy"),
        "certificate_subject": "CN=Leap Connect document signing (test)",
    }
    values.update(changes)
    return AgreementFacts(**values)  # type: ignore[arg-type]


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return generate_identity("https://connect.example.com", now=SIGNED_AT)


def test_the_pdf_holds_the_document_the_signature_block_and_the_audit_trail() -> None:
    text = text_of(render_agreement_pdf(facts()))

    assert "Participation agreement" in text and "You reduce your use" in text
    assert "/s/ Zoë O'Brien-Łukasiewicz" in text
    assert "Audit trail" in text
    for fact in (
        document_sha256(TEXT),
        "participation-agreement, version 3",
        "zoe@example.com",
        "Facilities manager",
        "Hopper Foods",
        "biz-9",
        "ConEd meter 1009876543",
        "2026-11-28 10:05:00.130000 UTC",
        "203.0.113.7",
        "You have the right to receive this document on paper instead.",
    ):
        assert fact in text, fact


def test_the_pdf_carries_the_signed_markdown_as_an_attachment() -> None:
    reader = pypdf.PdfReader(io.BytesIO(render_agreement_pdf(facts())))

    assert reader.attachments == {"participation-agreement-v3.md": [TEXT.encode()]}


def test_markup_in_the_facts_is_printed_as_text() -> None:
    text = text_of(render_agreement_pdf(facts(signer_name="<b>Grace</b> **Hopper**")))

    assert "/s/ <b>Grace</b> **Hopper**" in text


def test_an_agreement_with_no_meters_says_so() -> None:
    assert "None connected at signing" in text_of(render_agreement_pdf(facts(meters=())))


async def test_a_signed_pdf_validates_against_the_certificate_that_signed_it(
    identity: SigningIdentity,
) -> None:
    signed = await sign_pdf(render_agreement_pdf(facts()), identity, reason="test")

    check = await check_pdf_signature(signed, identity.certificate_pem)

    assert check.ok
    assert check.signer and "connect.example.com" in check.signer


async def test_another_certificate_does_not_make_the_signature_trusted(
    identity: SigningIdentity,
) -> None:
    signed = await sign_pdf(render_agreement_pdf(facts()), identity, reason="test")
    stranger = generate_identity("https://elsewhere.example", now=SIGNED_AT)

    check = await check_pdf_signature(signed, stranger.certificate_pem)

    assert check.intact and check.valid and not check.trusted and not check.ok


async def test_an_unsigned_or_damaged_file_is_not_a_valid_signed_pdf(
    identity: SigningIdentity,
) -> None:
    unsigned = render_agreement_pdf(facts())

    assert not (await check_pdf_signature(unsigned, identity.certificate_pem)).ok
    assert not (await check_pdf_signature(b"not a pdf", identity.certificate_pem)).ok


def test_a_document_the_pdf_can_lay_out_passes_the_layout_check() -> None:
    check_document_layout("Terms", "# Terms\n\n> quote\n\n```\ncode\n```\n\n- a\n  - b\n")


def test_the_layout_check_turns_a_layout_failure_into_a_clear_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fpdf import FPDF

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("cannot nest this")

    monkeypatch.setattr(FPDF, "write_html", broken)

    with pytest.raises(DocumentProblem, match="Terms cannot be laid out in a PDF"):
        check_document_layout("Terms", "# Terms\n")
