"""Signed terms: who signed which document version, when, for which meters, and the signed PDF."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin


class Agreement(IdMixin, TimestampMixin, Base):
    __tablename__ = "agreements"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    connect_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connect_sessions.id"), index=True
    )
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), index=True)
    document_sha256: Mapped[str] = mapped_column(String(64))
    partner_reference: Mapped[str | None] = mapped_column(String(255))
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str | None] = mapped_column(String(320))
    signer_title: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(200))
    meter_ids: Mapped[list[str]]
    consented_at: Mapped[datetime]
    signed_at: Mapped[datetime]
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(1000))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))


class AgreementMeter(Base):
    """Which meters an agreement covers, so a meter's agreements are one index lookup."""

    __tablename__ = "agreement_meters"

    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("meters.id"), primary_key=True, index=True
    )
