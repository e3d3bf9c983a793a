"""A signed agreement as partners see it, in the API and in the `agreement.signed` event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from leap_connect.models import Agreement, Document


class AgreementDocument(BaseModel):
    """The exact version signed: its text hashes (SHA-256, UTF-8) to `sha256`."""

    document_id: uuid.UUID
    slug: str
    title: str
    version: int
    customer_type: Literal["residential", "commercial"]
    sha256: str
    text_markdown: str


class AgreementOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "agreement_id": "3f0c2a4e-5b1d-4c8e-9a7f-2d6b8e1c0a93",
                "connect_session_id": "9b2e7c1a-0d4f-4e8b-a6c3-5f1e2d7b8a90",
                "partner_reference": "biz-9",
                "signer_name": "Grace Hopper",
                "signer_email": "grace@example.com",
                "signer_title": "Operations director",
                "company_name": "Hopper Foods",
                "meter_ids": ["0b5f6a8e-2f44-4b53-9a59-1f1f0c1d2e3f"],
                "consented_at": "2026-11-28T10:04:59.120000Z",
                "signed_at": "2026-11-28T10:04:59.130000Z",
                "ip_address": "203.0.113.7",
                "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) …",
                "document": {
                    "document_id": "5d1e8f2a-7c3b-4a9e-8f6d-1b2c3d4e5f60",
                    "slug": "participation-agreement",
                    "title": "Demand response participation agreement",
                    "version": 2,
                    "customer_type": "commercial",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "text_markdown": "# Demand response participation agreement\n…",
                },
                "pdf_sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                "pdf_url": "/v2/agreements/3f0c2a4e-5b1d-4c8e-9a7f-2d6b8e1c0a93/pdf",
            }
        }
    )

    agreement_id: uuid.UUID
    connect_session_id: uuid.UUID
    partner_reference: str | None
    signer_name: str
    signer_email: str | None
    signer_title: str | None
    company_name: str | None
    meter_ids: list[uuid.UUID] = Field(
        description="The meters connected when the customer signed. The agreement also covers "
        "meters the utility reports later for the session's authorizations."
    )
    consented_at: datetime
    signed_at: datetime
    ip_address: str | None
    user_agent: str | None
    document: AgreementDocument
    pdf_sha256: str | None
    pdf_url: str


class MeterAgreementOut(AgreementOut):
    """An agreement covering a meter. It covers every meter of the session it was signed in,
    meters the utility reported after the signing too; `meter_present_at_signing` says which."""

    meter_present_at_signing: bool


class AgreementList(BaseModel):
    agreements: list[MeterAgreementOut]


def agreement_out(agreement: Agreement, document: Document) -> AgreementOut:
    return AgreementOut(
        agreement_id=agreement.id,
        connect_session_id=agreement.connect_session_id,
        partner_reference=agreement.partner_reference,
        signer_name=agreement.signer_name,
        signer_email=agreement.signer_email,
        signer_title=agreement.signer_title,
        company_name=agreement.company_name,
        meter_ids=[uuid.UUID(meter_id) for meter_id in agreement.meter_ids],
        consented_at=agreement.consented_at,
        signed_at=agreement.signed_at,
        ip_address=agreement.ip_address,
        user_agent=agreement.user_agent,
        document=AgreementDocument(
            document_id=document.id,
            slug=document.slug,
            title=document.title,
            version=document.version,
            customer_type="commercial" if document.customer_type == "commercial" else "residential",
            sha256=agreement.document_sha256,
            text_markdown=document.body_markdown,
        ),
        pdf_sha256=agreement.pdf_sha256,
        pdf_url=f"/v2/agreements/{agreement.id}/pdf",
    )
