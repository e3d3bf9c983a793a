"""The customer journey: flows, terms documents, connect sessions and utility authorizations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin


class ConnectFlow(IdMixin, TimestampMixin, Base):
    __tablename__ = "connect_flows"
    __table_args__ = (UniqueConstraint("organization_id", "url_friendly_title"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    url_friendly_title: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200))
    transmission_region: Mapped[str] = mapped_column(String(20))
    utility_ids: Mapped[list[str]]
    customer_types: Mapped[list[str]]
    thank_you_url: Mapped[str] = mapped_column(String(2000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    terms_before_authorization: Mapped[bool] = mapped_column(Boolean, default=False)
    # How long the flow wishes a customer's permission to last (PG&E's PreferredAuthEndDate).
    authorization_months: Mapped[int] = mapped_column(Integer, default=12, server_default="12")


class Document(IdMixin, TimestampMixin, Base):
    """One version of a terms document; immutable once anyone has signed it."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("flow_id", "customer_type", "slug", "version"),)

    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_flows.id"), index=True)
    customer_type: Mapped[str] = mapped_column(String(20))
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    body_markdown: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the document comes in the flow's terms step, in the order the partner gave them.
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ConnectSession(IdMixin, TimestampMixin, Base):
    __tablename__ = "connect_sessions"
    __table_args__ = (
        Index("ix_connect_sessions_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_connect_sessions_org_created", "organization_id", "created_at", "id"),
        Index("ix_connect_sessions_org_reference", "organization_id", "partner_reference"),
        Index("ix_connect_sessions_status_interaction", "status", "last_interaction_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_flows.id"), index=True)
    partner_reference: Mapped[str | None] = mapped_column(String(255))
    requested_utility_ids: Mapped[list[str]]
    customer_type: Mapped[str] = mapped_column(String(20))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    company_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="CREATED")
    browser_binding_hmac: Mapped[str] = mapped_column(String(64), index=True)
    last_interaction_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class UtilityAuthorization(IdMixin, TimestampMixin, Base):
    """One attempt to authorize one utility, and, once completed, the grant it produced."""

    __tablename__ = "utility_authorizations"
    __table_args__ = (
        UniqueConstraint("state_hmac"),
        # UtilityAPI's webhooks name an authorization by its reference there.
        Index("ix_utility_authorizations_utility_ref", "utility_id", "utility_authorization_ref"),
        # The lifecycle job: grants past their end, and grants not asked about for a day.
        Index("ix_utility_authorizations_status_expires", "status", "expires_at"),
        Index("ix_utility_authorizations_status_checked", "status", "status_checked_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    connect_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connect_sessions.id"), index=True
    )
    utility_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="INITIATED")
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_description: Mapped[str | None] = mapped_column(String(1000))
    state_hmac: Mapped[str] = mapped_column(String(64))
    state_expires_at: Mapped[datetime]
    state_used_at: Mapped[datetime | None]
    pkce_verifier_encrypted: Mapped[str | None] = mapped_column(Text)
    scope_requested: Mapped[str | None] = mapped_column(String(1000))
    scope_granted: Mapped[str | None] = mapped_column(String(1000))
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    utility_authorization_ref: Mapped[str | None] = mapped_column(String(2000))
    resource_uri: Mapped[str | None] = mapped_column(String(2000))
    meters_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    authorized_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # When the utility was last asked whether the grant still stands (daily while COMPLETED).
    status_checked_at: Mapped[datetime | None]
    # The partner asked to end the grant; it is ended at the utility by a job, retried until it
    # is, and `revocation_error` says why the utility's last attempt failed.
    revocation_requested_at: Mapped[datetime | None]
    revocation_error: Mapped[str | None] = mapped_column(String(1000))
