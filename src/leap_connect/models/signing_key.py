"""The instance's document-signing certificate and key, generated at first use when none is
configured, and kept in the database so every process signs with the same one."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin


class SigningKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(40), unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
