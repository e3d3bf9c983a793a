"""The portal's own tables: signed-in sessions, and how often each flow's links were opened."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, utc_now


class PortalSession(IdMixin, Base):
    """A signed-in portal user; the browser holds a random token, the table only its HMAC.

    It ends when it has been idle too long (`last_seen_at`), at `expires_at` whatever happens, or
    when the user signs out (the row is deleted).
    """

    __tablename__ = "portal_sessions"

    token_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LinkOpenCount(Base):
    """Landing pages shown per flow and UTC day, added up in memory and saved in batches.

    Landing GETs never write (link scanners open links too), so the count of a day grows in
    steps, each time a server saves what it has counted since the last time.
    """

    __tablename__ = "link_open_counts"
    __table_args__ = (Index("ix_link_open_counts_org_day", "organization_id", "day"),)

    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_flows.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    opens: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
