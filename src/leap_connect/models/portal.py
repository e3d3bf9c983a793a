"""The portal's own tables: signed-in sessions, and who opened each flow's links on which day."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
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


class LinkOpen(Base):
    """A visitor who opened one of a flow's links on a UTC day: one row however often they did.

    `visitor` is a keyed hash of the client's address, its user agent and the day, so no address is
    stored and a visitor cannot be followed from one day to the next; an e-mail scanner opening a
    campaign's links again and again is one visitor a day. `browser_binding_hmac` is the browser
    cookie's hash as a Connect session stores it, so the funnel knows which opens led to a session.
    """

    __tablename__ = "link_opens"
    __table_args__ = (Index("ix_link_opens_org_day", "organization_id", "day"),)

    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_flows.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    visitor: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    browser_binding_hmac: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utc_now)
