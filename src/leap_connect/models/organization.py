"""Organizations (partners), the people who sign in to the portal, and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    logo_url: Mapped[str | None] = mapped_column(String(2000))
    brand_color: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    # Where customers reach the partner for help: an e-mail address or an https:// URL.
    support_contact: Mapped[str | None] = mapped_column(String(2000))
    redirect_signing_secret_encrypted: Mapped[str] = mapped_column(String(500))


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="admin")
    last_signed_in_at: Mapped[datetime | None]


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("token_hmac"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hint: Mapped[str] = mapped_column(String(32))
    token_hmac: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
