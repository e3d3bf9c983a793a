"""Meters and sessions as CSV files, for the filter on screen, streamed a page at a time.

Each page is read in a short transaction of its own through the API's own searches (so the file
holds what the tab and the API show), and written out before the next is read: a file of any size
takes the memory of one page. Every cell is formula-safe (`kit/spreadsheet_cells.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.connect import statuses
from leap_connect.connect.schemas import ConnectSessionOut, SessionFilters
from leap_connect.kit.spreadsheet_cells import csv_line
from leap_connect.meters import search as meter_search
from leap_connect.meters.schemas import MeterOut, MeterSearch
from leap_connect.portal import wording

EXPORT_PAGE_SIZE = 500

METER_COLUMNS = (
    "Customer name",
    "Company",
    "Service address",
    "City",
    "State",
    "Postal code",
    "Meter number",
    "Service point ID",
    "Utility",
    "Reference ID",
    "Customer classification",
    "Authorization",
    "Authorization status code",
    "Authorized (UTC)",
    "Expires (UTC)",
    "Meter ID",
    "Created (UTC)",
)

SESSION_COLUMNS = (
    "Opened (UTC)",
    "Reference ID",
    "Flow",
    "Status",
    "Status code",
    "Utilities",
    "Finished (UTC)",
    "Customer type",
    "Session ID",
)


async def no_rows(columns: tuple[str, ...]) -> AsyncIterator[str]:
    yield csv_line(columns)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else ""


def meter_cells(meter: MeterOut) -> list[str | None]:
    customer, utility, authorization = meter.customer, meter.utility, meter.authorization
    worded = wording.meter_authorization_status(authorization.status)
    street = ", ".join(part for part in (customer.street_1, customer.street_2) if part)
    return [
        customer.end_customer_name,
        customer.end_customer_company_name,
        street,
        customer.city,
        customer.state_or_province_code,
        customer.postal_code,
        utility.utility_meter_serial_number,
        utility.service_point_id,
        wording.utility_name(utility.utility_id),
        meter.partner_reference,
        meter.customer_classification.capitalize(),
        worded.words,
        worded.code,
        _when(authorization.authorized_at),
        _when(authorization.expires_at),
        str(meter.meter_id),
        _when(meter.audit.created_at),
    ]


def session_cells(
    connect_session: ConnectSessionOut, flow_titles: Mapping[str, str]
) -> list[str | None]:
    worded = wording.session_status(connect_session.status)
    utilities = "; ".join(
        f"{wording.utility_name(a.utility_id)}: "
        f"{wording.authorization_status(a.status, a.error_code).words}"
        for a in connect_session.authorizations
    )
    return [
        _when(connect_session.created_at),
        connect_session.partner_reference,
        flow_titles.get(connect_session.flow, connect_session.flow),
        worded.words,
        worded.code,
        utilities,
        _when(connect_session.completed_at),
        connect_session.customer_type.capitalize(),
        str(connect_session.connect_session_id),
    ]


async def meters_csv(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    organization_id: uuid.UUID,
    search: MeterSearch,
    secret_key: str,
) -> AsyncIterator[str]:
    yield csv_line(METER_COLUMNS)
    token: str | None = None
    while True:
        page_search = search.model_copy(update={"page_size": EXPORT_PAGE_SIZE, "page_token": token})
        async with sessionmaker() as session:
            page = await meter_search.search_meters(
                session, organization_id=organization_id, search=page_search, secret_key=secret_key
            )
        yield "".join(csv_line(meter_cells(meter)) for meter in page.meters)
        token = page.next_page_token
        if not token:
            return


async def sessions_csv(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    organization_id: uuid.UUID,
    filters: SessionFilters,
    flow_titles: Mapping[str, str],
    secret_key: str,
) -> AsyncIterator[str]:
    yield csv_line(SESSION_COLUMNS)
    token: str | None = None
    while True:
        async with sessionmaker() as session:
            page = await statuses.list_connect_sessions(
                session,
                organization_id=organization_id,
                filters=filters,
                page_size=EXPORT_PAGE_SIZE,
                page_token=token,
                secret_key=secret_key,
            )
        yield "".join(csv_line(session_cells(item, flow_titles)) for item in page.connect_sessions)
        token = page.next_page_token
        if not token:
            return
