"""Finding meters for the partner API: one by ID, or a filtered search a page at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.kit.pagination import (
    Position,
    decode_page_token,
    next_page_token,
    page_of,
    search_fingerprint,
)
from leap_connect.kit.problems import NotFound
from leap_connect.meters import repository
from leap_connect.meters.schemas import (
    MeterOut,
    MeterSearch,
    MeterSearchPage,
    meter_document,
    meter_out,
)
from leap_connect.models import Meter

PAGE_KIND = "meters"


def meter_not_found() -> NotFound:
    return NotFound("There is no meter with this ID.")


async def require_meter(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> Meter:
    """The organization's meter; another organization's is as absent as one that never was."""
    meter = await repository.get_meter(session, organization_id, meter_id)
    if meter is None:
        raise meter_not_found()
    return meter


async def get_meter(
    session: AsyncSession, *, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> MeterOut:
    meter = await require_meter(session, organization_id, meter_id)
    return (await present(session, [meter]))[0]


async def present(session: AsyncSession, meters: Sequence[Meter]) -> list[MeterOut]:
    """Meters in the API's shape, with two queries for any number of them."""
    references = await repository.connection_references_of(session, [m.id for m in meters])
    authorizations = await repository.authorizations_by_id(
        session, {m.utility_authorization_id for m in meters}
    )
    return [
        meter_out(
            meter,
            connection_references=references[meter.id],
            authorization=authorizations[meter.utility_authorization_id],
        )
        for meter in meters
    ]


@dataclass(frozen=True, slots=True)
class FoundPage:
    """A page of a search: the meters in the API's shape as plain values, and the next token."""

    meters: list[dict[str, Any]]
    next_page_token: str | None

    def json(self) -> bytes:
        """The page as the API answers it: the bytes `MeterSearchPage` would serialize to."""
        return to_json({"meters": self.meters, "next_page_token": self.next_page_token})

    def model(self) -> MeterSearchPage:
        return MeterSearchPage.model_validate(
            {"meters": self.meters, "next_page_token": self.next_page_token}
        )


async def search_meters(
    session: AsyncSession, *, organization_id: uuid.UUID, search: MeterSearch, secret_key: str
) -> MeterSearchPage:
    """A page of meters as models (the portal's view of a search)."""
    page = await find_meters(
        session, organization_id=organization_id, search=search, secret_key=secret_key
    )
    return page.model()


async def find_meters(
    session: AsyncSession, *, organization_id: uuid.UUID, search: MeterSearch, secret_key: str
) -> FoundPage:
    fingerprint = search_fingerprint(search.filters())
    after = (
        decode_page_token(
            search.page_token,
            secret_key,
            kind=PAGE_KIND,
            organization_id=organization_id,
            fingerprint=fingerprint,
        )
        if search.page_token
        else None
    )
    rows = await repository.search_meters(
        session,
        organization_id,
        repository.MeterFilters(
            meter_ids=search.meter_ids,
            partner_references=search.partner_references,
            connection_reference_ids=search.connection_reference_ids,
            utility_ids=search.utility_ids,
            transmission_region=search.transmission_region,
            customer_classification=search.customer_classification,
            created_after=search.created_after_date_time,
            created_before=search.created_before_date_time,
            modified_since=search.last_modified_date_time,
            exclude_archived=search.exclude_archived,
        ),
        after=after,
        limit=search.page_size + 1,
    )
    page = page_of(rows, search.page_size, lambda row: Position(row.meter.created_at, row.meter.id))
    next_token = next_page_token(
        secret_key, page, kind=PAGE_KIND, organization_id=organization_id, fingerprint=fingerprint
    )
    meters = [
        meter_document(
            row.meter,
            connection_references=row.connection_references,
            authorization=row.authorization,
        )
        for row in page.items
    ]
    return FoundPage(meters, next_token)
