"""Outgoing webhooks: partner endpoints, the event outbox, and each delivery with its attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin, utc_now


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Static headers in plain JSON: only rows written before 0010 (see `headers_encrypted`).
    headers: Mapped[dict[str, Any]]
    # The static headers as encrypted JSON; NULL on rows written before 0010 until rewritten.
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # Deleted by the partner: hidden at once; its delivery job then removes it and its log.
    deleted_at: Mapped[datetime | None]


class WebhookEvent(IdMixin, Base):
    """The outbox: written in the same transaction as the change it reports."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_org_created", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # The delivery job's batch: an endpoint's pending deliveries, soonest due first.
        Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # Waits of the retry schedule used since the delivery was queued or last redelivered.
    scheduled_retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class WebhookDeliveryAttempt(IdMixin, Base):
    __tablename__ = "webhook_delivery_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utc_now)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(1000))
