"""The meter as partners see it (Leap's Meter API v2 shape), in the API and in webhook payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from leap_connect.models import Meter, UtilityAuthorization
from leap_connect.utilities.registry import UTILITIES_BY_ID


class MeterUtility(BaseModel):
    utility_id: str
    utility_name: str
    electric_service_account_number: str | None
    utility_meter_serial_number: str | None
    service_point_id: str | None
    tariff: str | None


class MeterCustomer(BaseModel):
    end_customer_name: str | None
    end_customer_email: str | None
    end_customer_company_name: str | None
    street_1: str | None
    street_2: str | None
    city: str | None
    state_or_province_code: str | None
    postal_code: str | None
    country_code: str | None


class MeterAuthorization(BaseModel):
    authorization_id: uuid.UUID
    status: Literal["ACTIVE", "REVOKED", "EXPIRED"]
    authorized_at: datetime | None
    expires_at: datetime | None
    scope: str | None


class MeterAudit(BaseModel):
    created_by: Literal["UTILITY", "PARTNER"]
    created_at: datetime
    updated_at: datetime


class MeterOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "meter_id": "0b5f6a8e-2f44-4b53-9a59-1f1f0c1d2e3f",
                "partner_reference": "cust-123",
                "connection_references": ["cust-123"],
                "transmission_region": "CAISO",
                "customer_classification": "RESIDENTIAL",
                "meter_type": "UTILITY_METER",
                "utility_is_required": True,
                "utility": {
                    "utility_id": "pge",
                    "utility_name": "PGE",
                    "electric_service_account_number": "4021937755",
                    "utility_meter_serial_number": "1009876543",
                    "service_point_id": "7392018433",
                    "tariff": "E-TOU-C",
                },
                "customer": {
                    "end_customer_name": "Ada Lovelace",
                    "end_customer_email": "ada@example.com",
                    "end_customer_company_name": None,
                    "street_1": "123 Main St",
                    "street_2": None,
                    "city": "Oakland",
                    "state_or_province_code": "CA",
                    "postal_code": "94612",
                    "country_code": "US",
                },
                "authorization": {
                    "authorization_id": "6a1d0c0e-8f7b-4b8e-8a11-3c2d9f1e0a55",
                    "status": "ACTIVE",
                    "authorized_at": "2026-11-28T10:00:00Z",
                    "expires_at": None,
                    "scope": "FB=1_3_4_5_13_14_39;IntervalDuration=3600",
                },
                "is_archived": False,
                "audit": {
                    "created_by": "UTILITY",
                    "created_at": "2026-11-28T10:00:01Z",
                    "updated_at": "2026-11-28T10:00:01Z",
                },
            }
        }
    )

    meter_id: uuid.UUID
    partner_reference: str | None
    connection_references: list[str]
    transmission_region: str
    customer_classification: Literal["RESIDENTIAL", "COMMERCIAL"]
    meter_type: Literal["UTILITY_METER"] = "UTILITY_METER"
    utility_is_required: bool
    utility: MeterUtility
    customer: MeterCustomer
    authorization: MeterAuthorization
    is_archived: bool
    audit: MeterAudit


def authorization_status(
    authorization: UtilityAuthorization,
) -> Literal["ACTIVE", "REVOKED", "EXPIRED"]:
    if authorization.status == "REVOKED" or authorization.revoked_at is not None:
        return "REVOKED"
    if authorization.status == "EXPIRED":
        return "EXPIRED"
    return "ACTIVE"


def meter_out(
    meter: Meter, *, connection_references: list[str], authorization: UtilityAuthorization
) -> MeterOut:
    utility = UTILITIES_BY_ID[meter.utility_id]
    return MeterOut(
        meter_id=meter.id,
        partner_reference=meter.partner_reference,
        connection_references=connection_references,
        transmission_region=meter.transmission_region,
        customer_classification="COMMERCIAL"
        if meter.customer_classification == "COMMERCIAL"
        else "RESIDENTIAL",
        utility_is_required=meter.utility_is_required,
        utility=MeterUtility(
            utility_id=utility.utility_id,
            utility_name=utility.short_name,
            electric_service_account_number=meter.electric_service_account_number,
            utility_meter_serial_number=meter.utility_meter_serial_number,
            service_point_id=meter.service_point_id,
            tariff=meter.tariff,
        ),
        customer=MeterCustomer(
            end_customer_name=meter.end_customer_name,
            end_customer_email=meter.end_customer_email,
            end_customer_company_name=meter.end_customer_company_name,
            street_1=meter.street_1,
            street_2=meter.street_2,
            city=meter.city,
            state_or_province_code=meter.state_or_province_code,
            postal_code=meter.postal_code,
            country_code=meter.country_code,
        ),
        authorization=MeterAuthorization(
            authorization_id=authorization.id,
            status=authorization_status(authorization),
            authorized_at=authorization.authorized_at,
            expires_at=authorization.expires_at,
            scope=authorization.scope_granted,
        ),
        is_archived=meter.is_archived,
        audit=MeterAudit(
            created_by="PARTNER" if meter.created_by == "PARTNER" else "UTILITY",
            created_at=meter.created_at,
            updated_at=meter.updated_at,
        ),
    )
