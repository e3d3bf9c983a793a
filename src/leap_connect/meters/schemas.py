"""The meter as partners see it (Leap's Meter API v2 shape), and the API's requests about meters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from leap_connect.api.params import UtcDateTime
from leap_connect.kit.link_rules import REF_ID_MAX_LENGTH
from leap_connect.kit.text import RequestModel
from leap_connect.utilities.registry import TRANSMISSION_REGIONS, UTILITIES_BY_ID, UTILITY_IDS


class MeterUtility(BaseModel):
    utility_id: str
    utility_name: str
    electric_service_account_number: str | None = Field(
        description="The service agreement ID (SAID) the meter's service is billed under."
    )
    customer_account_number: str | None = Field(
        description="The customer's account number at the utility (one may hold several SAIDs)."
    )
    utility_meter_serial_number: str | None
    service_point_id: str | None
    tariff: str | None
    service_class: str | None = Field(
        description="The utility's service class, as UtilityAPI reports it (e.g. commercial)."
    )


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
                    "customer_account_number": "8730114562-4",
                    "utility_meter_serial_number": "1009876543",
                    "service_point_id": "7392018433",
                    "tariff": "E-TOU-C",
                    "service_class": None,
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
                "data_status": "READY",
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
    data_status: Literal["COLLECTING", "READY", "FAILED"] = Field(
        description=(
            "Whether the meter's readings can be read: COLLECTING while the utility gathers its "
            "history (UtilityAPI, after the customer authorizes), READY once they are in, FAILED "
            "when the utility could not collect them."
        )
    )
    audit: MeterAudit


class MeterColumns(Protocol):
    """What a meter's API shape is read from: a `Meter`, or a row of the meters table."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def utility_id(self) -> str: ...
    @property
    def partner_reference(self) -> str | None: ...
    @property
    def transmission_region(self) -> str: ...
    @property
    def customer_classification(self) -> str: ...
    @property
    def utility_is_required(self) -> bool: ...
    @property
    def electric_service_account_number(self) -> str | None: ...
    @property
    def customer_account_number(self) -> str | None: ...
    @property
    def service_class(self) -> str | None: ...
    @property
    def utility_meter_serial_number(self) -> str | None: ...
    @property
    def service_point_id(self) -> str | None: ...
    @property
    def tariff(self) -> str | None: ...
    @property
    def end_customer_name(self) -> str | None: ...
    @property
    def end_customer_email(self) -> str | None: ...
    @property
    def end_customer_company_name(self) -> str | None: ...
    @property
    def street_1(self) -> str | None: ...
    @property
    def street_2(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def state_or_province_code(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def country_code(self) -> str | None: ...
    @property
    def is_archived(self) -> bool: ...
    @property
    def data_status(self) -> str: ...
    @property
    def created_by(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class AuthorizationColumns(Protocol):
    """What a meter's `authorization` is read from: a `UtilityAuthorization`, or a row of it."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def authorized_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def scope_granted(self) -> str | None: ...


def authorization_status(
    authorization: AuthorizationColumns,
) -> Literal["ACTIVE", "REVOKED", "EXPIRED"]:
    if authorization.status == "REVOKED" or authorization.revoked_at is not None:
        return "REVOKED"
    if authorization.status == "EXPIRED":
        return "EXPIRED"
    return "ACTIVE"


def meter_document(
    meter: MeterColumns, *, connection_references: list[str], authorization: AuthorizationColumns
) -> dict[str, Any]:
    """A meter in the API's shape as plain values, keys in `MeterOut`'s field order.

    `MeterOut` validates it; a search page serializes it as it is, which gives the same JSON
    without building five models for each of up to 500 meters.
    """
    utility = UTILITIES_BY_ID[meter.utility_id]
    return {
        "meter_id": meter.id,
        "partner_reference": meter.partner_reference,
        "connection_references": connection_references,
        "transmission_region": meter.transmission_region,
        "customer_classification": "COMMERCIAL"
        if meter.customer_classification == "COMMERCIAL"
        else "RESIDENTIAL",
        "meter_type": "UTILITY_METER",
        "utility_is_required": meter.utility_is_required,
        "utility": {
            "utility_id": utility.utility_id,
            "utility_name": utility.short_name,
            "electric_service_account_number": meter.electric_service_account_number,
            "customer_account_number": meter.customer_account_number,
            "utility_meter_serial_number": meter.utility_meter_serial_number,
            "service_point_id": meter.service_point_id,
            "tariff": meter.tariff,
            "service_class": meter.service_class,
        },
        "customer": {
            "end_customer_name": meter.end_customer_name,
            "end_customer_email": meter.end_customer_email,
            "end_customer_company_name": meter.end_customer_company_name,
            "street_1": meter.street_1,
            "street_2": meter.street_2,
            "city": meter.city,
            "state_or_province_code": meter.state_or_province_code,
            "postal_code": meter.postal_code,
            "country_code": meter.country_code,
        },
        "authorization": {
            "authorization_id": authorization.id,
            "status": authorization_status(authorization),
            "authorized_at": authorization.authorized_at,
            "expires_at": authorization.expires_at,
            "scope": authorization.scope_granted,
        },
        "is_archived": meter.is_archived,
        "data_status": meter.data_status or "READY",
        "audit": {
            "created_by": "PARTNER" if meter.created_by == "PARTNER" else "UTILITY",
            "created_at": meter.created_at,
            "updated_at": meter.updated_at,
        },
    }


def meter_out(
    meter: MeterColumns, *, connection_references: list[str], authorization: AuthorizationColumns
) -> MeterOut:
    return MeterOut.model_validate(
        meter_document(
            meter, connection_references=connection_references, authorization=authorization
        )
    )


# --- search ------------------------------------------------------------------------------------

MAX_PAGE_SIZE = 500
MAX_FILTER_VALUES = 500

PARTNER_REFERENCE_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": REF_ID_MAX_LENGTH,
    "pattern": "^[ -~]+$",
    "description": "1–255 printable US-ASCII characters, the same rule as a link's `refId`.",
}


def _known_utility(value: str) -> str:
    if value not in UTILITIES_BY_ID:
        raise PydanticCustomError(
            "unknown_utility",
            "Unknown utility ID {value}; supported: {supported}.",
            {"value": repr(value), "supported": ", ".join(UTILITY_IDS)},
        )
    return value


def _known_region(value: str) -> str:
    if value not in TRANSMISSION_REGIONS:
        raise PydanticCustomError(
            "unknown_region",
            "Unknown transmission region {value}; regions: {regions}.",
            {"value": repr(value), "regions": ", ".join(TRANSMISSION_REGIONS)},
        )
    return value


Reference = Annotated[str, StringConstraints(min_length=1, max_length=REF_ID_MAX_LENGTH)]
UtilityId = Annotated[
    str,
    AfterValidator(_known_utility),
    WithJsonSchema({"type": "string", "enum": list(UTILITY_IDS)}),
]
TransmissionRegion = Annotated[
    str,
    AfterValidator(_known_region),
    WithJsonSchema({"type": "string", "enum": list(TRANSMISSION_REGIONS)}),
]


class MeterSearch(RequestModel):
    """Every filter is optional; given filters must all match. A list matches any of its values."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"partner_references": ["cust-123"]},
                {
                    "utility_ids": ["pge", "sce"],
                    "customer_classification": "COMMERCIAL",
                    "created_after_date_time": "2026-11-01T00:00:00Z",
                    "exclude_archived": True,
                    "page_size": 100,
                },
            ]
        },
    )

    meter_ids: list[uuid.UUID] | None = Field(
        None, max_length=MAX_FILTER_VALUES, description="Meters with these IDs."
    )
    partner_references: list[Reference] | None = Field(
        None,
        max_length=MAX_FILTER_VALUES,
        description="Meters whose current `partner_reference` is one of these.",
    )
    connection_reference_ids: list[Reference] | None = Field(
        None,
        max_length=MAX_FILTER_VALUES,
        description="Meters connected under one of these Reference IDs (`connection_references`).",
    )
    utility_ids: list[UtilityId] | None = Field(
        None, max_length=MAX_FILTER_VALUES, description="Meters at these utilities."
    )
    transmission_region: TransmissionRegion | None = None
    customer_classification: Literal["RESIDENTIAL", "COMMERCIAL"] | None = None
    created_after_date_time: UtcDateTime | None = Field(
        None, description="Meters created at or after this time (ISO 8601; no offset means UTC)."
    )
    created_before_date_time: UtcDateTime | None = Field(
        None, description="Meters created before this time."
    )
    last_modified_date_time: UtcDateTime | None = Field(
        None, description="Meters changed at or after this time."
    )
    exclude_archived: bool = Field(False, description="Leave out archived meters.")
    page_size: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: str | None = Field(
        None,
        max_length=1000,
        description="The `next_page_token` of the previous page; send the same filters with it.",
    )

    def filters(self) -> dict[str, object]:
        """The filters alone (no paging), as JSON values: what a page token is bound to."""
        return self.model_dump(mode="json", exclude={"page_size", "page_token"})


class MeterSearchPage(BaseModel):
    meters: list[MeterOut] = Field(description="Newest first.")
    next_page_token: str | None = Field(
        description="Pass it as `page_token` for the next page; null on the last page."
    )


# --- partner references ----------------------------------------------------------------------


class PartnerReferenceUpdate(RequestModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"partner_reference": "cust-123"}]}
    )

    partner_reference: Annotated[str, WithJsonSchema(PARTNER_REFERENCE_SCHEMA)]


class PartnerReferenceUpdateItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meter_id: Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
    partner_reference: Annotated[str, WithJsonSchema(PARTNER_REFERENCE_SCHEMA)]


class BulkPartnerReferenceUpdate(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "updates": [
                        {
                            "meter_id": "0b5f6a8e-2f44-4b53-9a59-1f1f0c1d2e3f",
                            "partner_reference": "cust-123",
                        },
                        {
                            "meter_id": "6a1d0c0e-8f7b-4b8e-8a11-3c2d9f1e0a55",
                            "partner_reference": "cust-456",
                        },
                    ]
                }
            ]
        },
    )

    updates: list[PartnerReferenceUpdateItem] = Field(min_length=1, max_length=MAX_PAGE_SIZE)


class PartnerReferenceResult(BaseModel):
    meter_id: str = Field(description="The meter ID as it was sent.")
    status: Literal["updated", "unchanged", "not_found", "invalid"] = Field(
        description="`updated`; `unchanged` (it already had this reference); `not_found` (no "
        "such meter in your organization); `invalid` (a bad meter ID or reference: the meter is "
        "left as it was)."
    )
    detail: str | None = Field(description="What is wrong, when the item failed.")
    meter: MeterOut | None = Field(description="The meter after the update, unless it failed.")


class BulkPartnerReferenceResults(BaseModel):
    results: list[PartnerReferenceResult] = Field(description="One per update, in request order.")
    updated_count: int
    unchanged_count: int
    failed_count: int


# --- interval readings ---------------------------------------------------------------------------


class IntervalOut(BaseModel):
    start: datetime = Field(description="When the interval starts (UTC).")
    duration_seconds: int
    kwh: float = Field(
        description=(
            "Net consumption in kWh: kwh_delivered − kwh_received when the utility reports both, "
            "else the net it reports, else the one direction it reports (received counting "
            "negative). Negative when the customer exported more than it used."
        )
    )
    kwh_delivered: float | None = Field(
        description="Energy the utility delivered to the customer, in kWh; null when not reported."
    )
    kwh_received: float | None = Field(
        description=(
            "Energy the utility received from the customer (solar export), in kWh, positive; "
            "null when not reported."
        )
    )


class MeterIntervalsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "meter_id": "0b5f6a8e-2f44-4b53-9a59-1f1f0c1d2e3f",
                "start": "2026-06-01T19:00:00Z",
                "end": "2026-06-01T19:30:00Z",
                "interval_seconds": 900,
                "intervals": [
                    {
                        "start": "2026-06-01T19:00:00Z",
                        "duration_seconds": 900,
                        "kwh": -0.61,
                        "kwh_delivered": 0.0,
                        "kwh_received": 0.61,
                    },
                    {
                        "start": "2026-06-01T19:15:00Z",
                        "duration_seconds": 900,
                        "kwh": -0.574,
                        "kwh_delivered": 0.0,
                        "kwh_received": 0.574,
                    },
                ],
            }
        }
    )

    meter_id: uuid.UUID
    start: datetime
    end: datetime
    interval_seconds: int | None = Field(
        description=(
            "The interval length of the readings shown (the finest the utility reported, unless "
            "asked for another); null when there are none."
        )
    )
    intervals: list[IntervalOut] = Field(
        description="Readings starting in [start, end), oldest first."
    )
