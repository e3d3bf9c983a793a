"""The partner API's connect requests and answers: flows, links and pages of connection statuses."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from leap_connect.connect.links import REF_ID_MAX_LENGTH
from leap_connect.connect.schemas import ConnectSessionOut
from leap_connect.utilities.registry import UTILITY_IDS


class FlowOut(BaseModel):
    flow: str = Field(description="The flow's URL-friendly title: the last part of its links.")
    title: str
    transmission_region: str
    utilities: list[str] = Field(description="The utility IDs the flow offers.")
    customer_types: list[str]
    enabled: bool
    thank_you_url: str
    url: str = Field(description="The flow's link with no parameters.")


class FlowList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "flows": [
                    {
                        "flow": "ca-homes",
                        "title": "California homes",
                        "transmission_region": "CAISO",
                        "utilities": ["pge", "sce", "sdge"],
                        "customer_types": ["residential", "commercial"],
                        "enabled": True,
                        "thank_you_url": "https://acme.example/thanks",
                        "url": "https://connect.example/acme/ca-homes",
                    }
                ]
            }
        }
    )

    flows: list[FlowOut]


class LinkRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"flow": "ca-homes", "requested_utilities": ["pge"], "ref_id": "cust-123"},
                {"flow": "ca-homes"},
            ]
        },
    )

    flow: str = Field(description="The flow's URL-friendly title.", max_length=200)
    requested_utilities: list[
        Annotated[str, WithJsonSchema({"type": "string", "enum": list(UTILITY_IDS)})]
    ] = Field(
        default_factory=list,
        max_length=20,
        description="Utility IDs the customer must connect; empty: every utility the flow offers.",
    )
    ref_id: Annotated[
        str | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "maxLength": REF_ID_MAX_LENGTH, "pattern": "^[ -~]*$"},
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(
        None,
        description="Your Reference ID for this customer (1–255 printable ASCII characters); "
        "their meters carry it as `partner_reference`.",
    )


class LinkOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "url": "https://connect.example/acme/ca-homes?requestedUtilities=pge&refId=cust-123",
                "flow": "ca-homes",
                "requested_utilities": ["pge"],
                "ref_id": "cust-123",
            }
        }
    )

    url: str
    flow: str
    requested_utilities: list[str] = Field(description="As the link carries them; may be empty.")
    ref_id: str | None


class ConnectSessionPage(BaseModel):
    connect_sessions: list[ConnectSessionOut] = Field(description="Newest first.")
    next_page_token: str | None = Field(
        description="Pass it as `page_token` for the next page; null on the last page."
    )
