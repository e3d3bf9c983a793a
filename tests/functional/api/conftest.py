"""Partners with API keys, meters put straight into the database, and meters from real journeys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import insert

from leap_connect.models import (
    ConnectionReference,
    ConnectSession,
    Meter,
    UtilityAuthorization,
    utc_now,
)
from leap_connect.organizations.service import API_KEY_SCOPES, create_api_key
from leap_connect.runtime import Runtime
from tests.support.browser import Browser, Page
from tests.support.factories import Partner, create_partner

PROBLEM_JSON = "application/problem+json"


@dataclass
class ApiPartner:
    """An organization with a flow and an API key holding every scope."""

    partner: Partner
    token: str

    @property
    def organization_id(self) -> uuid.UUID:
        return self.partner.organization.id

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue_key(
    runtime: Runtime, partner: Partner, scopes: Sequence[str] = API_KEY_SCOPES
) -> str:
    async with runtime.sessionmaker() as session, session.begin():
        issued = await create_api_key(
            session, runtime.secret_key, organization=partner.organization, scopes=list(scopes)
        )
    return issued.token


async def api_partner(runtime: Runtime, name: str) -> ApiPartner:
    partner = await create_partner(runtime, name=name)
    return ApiPartner(partner, await issue_key(runtime, partner))


@pytest.fixture
async def acme(runtime: Runtime) -> ApiPartner:
    return await api_partner(runtime, "acme")


@pytest.fixture
async def globex(runtime: Runtime) -> ApiPartner:
    return await api_partner(runtime, "globex")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# --- meters straight into the database, for volume ---------------------------------------------


async def seed_meters(
    runtime: Runtime,
    owner: ApiPartner,
    count: int,
    *,
    first_created_at: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
    connection_references: Sequence[str] = (),
    **fields: Any,
) -> list[uuid.UUID]:
    """`count` meters of one completed PG&E authorization, created `step` apart, oldest first."""
    start = first_created_at or utc_now() - step * count
    async with runtime.sessionmaker() as session, session.begin():
        connect_session = ConnectSession(
            organization_id=owner.organization_id,
            flow_id=owner.partner.flow.id,
            partner_reference=fields.get("partner_reference"),
            requested_utility_ids=["pge"],
            customer_type="residential",
            status="COMPLETED",
            browser_binding_hmac="0" * 64,
            last_interaction_at=start,
        )
        session.add(connect_session)
        await session.flush()
        authorization = UtilityAuthorization(
            organization_id=owner.organization_id,
            connect_session_id=connect_session.id,
            utility_id=fields.get("utility_id", "pge"),
            status="COMPLETED",
            state_hmac=uuid.uuid4().hex,
            state_expires_at=start,
            authorized_at=start,
            scope_granted="FB=1_3_4_5_13_14_39",
        )
        session.add(authorization)
        await session.flush()
        rows = []
        for n in range(count):
            created_at = start + step * n
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": owner.organization_id,
                    "utility_id": "pge",
                    "utility_meter_id": uuid.uuid4().hex,
                    "utility_authorization_id": authorization.id,
                    "partner_reference": None,
                    "transmission_region": "CAISO",
                    "customer_classification": "RESIDENTIAL",
                    "utility_is_required": True,
                    "is_archived": False,
                    "created_by": "UTILITY",
                    "created_at": created_at,
                    "updated_at": created_at,
                    **fields,
                }
            )
        await session.execute(insert(Meter), rows)
        if connection_references:
            await session.execute(
                insert(ConnectionReference),
                [
                    {
                        "meter_id": row["id"],
                        "reference": reference,
                        "organization_id": owner.organization_id,
                    }
                    for row in rows
                    for reference in connection_references
                ],
            )
    return [row["id"] for row in rows]


# --- meters from real journeys through the in-process sandbox ----------------------------------


async def connect_meters(
    browser: Browser,
    owner: ApiPartner,
    *,
    ref_id: str,
    utility_id: str = "pge",
    username: str = "residential",
    customer_type: str = "residential",
    finish: bool = True,
) -> Page:
    """A customer opens the partner's link, authorizes one utility and (by default) finishes."""
    partner = owner.partner
    landing = await browser.open(
        f"/{partner.organization.name}/{partner.flow.url_friendly_title}"
        f"?requestedUtilities={utility_id}&refId={ref_id}"
    )
    assert landing.status == 200, landing.text
    details = {
        "customer_type": customer_type,
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
    }
    if customer_type == "commercial":
        details["company_name"] = "Lovelace Engines"
    at_utility = await browser.submit(landing, button=("utility_id", utility_id), fields=details)
    assert urlsplit(at_utility.url).path == f"/sandbox/{utility_id}/oauth/authorize"
    session_page = await browser.submit(
        at_utility,
        button=("decision", "approve"),
        fields={"username": username, "password": "sandbox"},
    )
    assert session_page.status == 200, session_page.text
    if finish:
        finished = await browser.submit(session_page, button=("action", "continue"), follow=False)
        assert finished.status == 303
    return session_page
