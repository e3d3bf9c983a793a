"""Meters, the partner references that connected them, and the interval readings stored for them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leap_connect.models.base import Base, IdMixin, TimestampMixin, utc_now


class Meter(IdMixin, TimestampMixin, Base):
    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("organization_id", "utility_id", "utility_meter_id"),
        Index("ix_meters_org_created", "organization_id", "created_at", "id"),
        Index("ix_meters_org_partner_reference", "organization_id", "partner_reference"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    utility_id: Mapped[str] = mapped_column(String(40))
    utility_meter_id: Mapped[str] = mapped_column(String(200))
    utility_authorization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("utility_authorizations.id"), index=True
    )
    partner_reference: Mapped[str | None] = mapped_column(String(255))
    transmission_region: Mapped[str] = mapped_column(String(20))
    customer_classification: Mapped[str] = mapped_column(String(20))
    utility_is_required: Mapped[bool] = mapped_column(Boolean, default=False)
    electric_service_account_number: Mapped[str | None] = mapped_column(String(200))
    """The service agreement ID (SAID), as Leap defines it in CAISO."""
    customer_account_number: Mapped[str | None] = mapped_column(String(200))
    service_class: Mapped[str | None] = mapped_column(String(40))
    utility_meter_serial_number: Mapped[str | None] = mapped_column(String(200))
    service_point_id: Mapped[str | None] = mapped_column(String(200))
    tariff: Mapped[str | None] = mapped_column(String(200))
    usage_point_uri: Mapped[str | None] = mapped_column(String(2000))
    end_customer_name: Mapped[str | None] = mapped_column(String(200))
    end_customer_email: Mapped[str | None] = mapped_column(String(320))
    end_customer_company_name: Mapped[str | None] = mapped_column(String(200))
    street_1: Mapped[str | None] = mapped_column(String(200))
    street_2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state_or_province_code: Mapped[str | None] = mapped_column(String(10))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country_code: Mapped[str | None] = mapped_column(String(2))
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(20), default="UTILITY")
    data_status: Mapped[str] = mapped_column(String(12), default="READY", server_default="READY")
    """READY when its readings can be read; COLLECTING while the utility gathers its history
    (UtilityAPI collects a meter's only when asked), FAILED when that collection failed."""
    collection_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the utility was asked to collect the meter's history; None until then."""


class ConnectionReference(Base):
    """A `refId` under which a meter was connected; a meter gathers one per re-authorization."""

    __tablename__ = "connection_references"
    __table_args__ = (
        Index("ix_connection_references_org_reference", "organization_id", "reference"),
    )

    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    reference: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class MeterInterval(Base):
    """One reading of one of a meter's series, after the utility's scaling, as it was reported.

    A series is a direction of flow and an interval length: a net-metered meter has a delivered
    and a received series, and a meter read both hourly and every 15 minutes has one of each.
    """

    __tablename__ = "meter_interval_readings"

    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    """"delivered" to the customer, "received" from the customer, or "net"."""
    interval_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Double)
    unit: Mapped[str] = mapped_column(String(10))
    """"kWh", or as the utility reports it ("therm", "ft3", …)."""


class MeterIntervalDay(Base):
    """A UTC day whose readings (every series) are stored, so asking again does not ask again."""

    __tablename__ = "meter_interval_days"

    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    reading_count: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(default=utc_now)
