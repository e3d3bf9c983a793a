"""Interval readings: fetched from the utility through the meter's connector, then kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.models import UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import ConnectorError, Interval, Tokens
from tests.functional.api.conftest import ApiPartner, assert_problem, connect_meters
from tests.support.browser import Browser


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes calls to the in-process sandbox and remembers which readings were asked for."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.reading_requests: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/Batch/Subscription/" in request.url.path:
            self.reading_requests.append(request.url)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def utility(app: FastAPI, browser: Browser, runtime: Runtime) -> CountingTransport:
    counting = CountingTransport(httpx.ASGITransport(app=app))
    runtime.http.transport = counting
    return counting


@pytest.fixture
async def meter_id(browser: Browser, acme: ApiPartner, utility: CountingTransport) -> str:
    await connect_meters(browser, acme, ref_id="cust-1")
    assert browser.client is not None
    response = await browser.client.post("/v2/meters/search", json={}, headers=acme.headers)
    found: str = response.json()["meters"][0]["meter_id"]
    return found


def last_midnight() -> datetime:
    return utc_now().replace(hour=0, minute=0, second=0, microsecond=0)


async def intervals(
    client: httpx.AsyncClient, owner: ApiPartner, meter_id: str, start: datetime, end: datetime
) -> httpx.Response:
    return await client.get(
        f"/v2/meters/{meter_id}/intervals",
        params={"start": start.isoformat(), "end": end.isoformat()},
        headers=owner.headers,
    )


async def test_readings_come_from_the_utility_once_then_from_what_was_kept(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, utility: CountingTransport
) -> None:
    start = last_midnight() - timedelta(days=10)
    end = start + timedelta(days=3)

    first = await intervals(client, acme, meter_id, start, end)

    assert first.status_code == 200, first.text
    body: dict[str, Any] = first.json()
    assert body["meter_id"] == meter_id
    readings = body["intervals"]
    assert len(readings) == 72  # the residential test customer reads hourly
    starts = [datetime.fromisoformat(reading["start"]) for reading in readings]
    assert starts == sorted(starts) and starts[0] == start and starts[-1] < end
    assert all(reading["start"].endswith("Z") for reading in readings)
    assert all(r["duration_seconds"] == 3600 and 0 < r["kwh"] < 20 for r in readings)
    assert len(utility.reading_requests) == 1

    again = await intervals(client, acme, meter_id, start, end)
    inside = await intervals(client, acme, meter_id, start + timedelta(hours=30), end)
    assert again.json() == body
    assert inside.json()["intervals"] == readings[30:]
    assert len(utility.reading_requests) == 1  # the utility was not asked again

    wider = await intervals(client, acme, meter_id, start - timedelta(days=1), end)
    assert len(wider.json()["intervals"]) == 96
    assert len(utility.reading_requests) == 2
    asked = utility.reading_requests[-1].params
    assert asked["published-min"] == (start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert asked["published-max"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_days_the_utility_may_still_publish_are_asked_for_again(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, utility: CountingTransport
) -> None:
    end = last_midnight() + timedelta(hours=6)
    start = end - timedelta(days=2)
    first = await intervals(client, acme, meter_id, start, end)
    assert first.status_code == 200
    assert len(first.json()["intervals"]) == 18 + 24  # today's are not published yet
    again = await intervals(client, acme, meter_id, start, end)
    assert again.json() == first.json()
    # The day before yesterday is kept; yesterday and today may still change, so are asked again.
    assert len(utility.reading_requests) == 2
    asked = utility.reading_requests[-1].params
    yesterday = last_midnight() - timedelta(days=1)
    assert asked["published-min"] == yesterday.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_an_expired_access_token_is_refreshed_and_the_new_one_kept(
    client: httpx.AsyncClient,
    acme: ApiPartner,
    meter_id: str,
    runtime: Runtime,
    utility: CountingTransport,
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        authorization = (await session.execute(select(UtilityAuthorization))).scalar_one()
        old_access = authorization.access_token_encrypted
        old_refresh = authorization.refresh_token_encrypted
        authorization.access_token_expires_at = utc_now() - timedelta(minutes=5)

    start = last_midnight() - timedelta(days=3)
    response = await intervals(client, acme, meter_id, start, start + timedelta(days=1))

    assert response.status_code == 200, response.text
    assert len(response.json()["intervals"]) == 24
    async with runtime.sessionmaker() as session:
        refreshed = (await session.execute(select(UtilityAuthorization))).scalar_one()
    assert refreshed.access_token_encrypted != old_access
    assert refreshed.refresh_token_encrypted != old_refresh  # the sandbox rotates refresh tokens
    assert refreshed.access_token_expires_at and refreshed.access_token_expires_at > utc_now()


class BrokenConnector:
    """A utility that fails every data request."""

    def __init__(self, error: ConnectorError) -> None:
        self.error = error

    async def refresh(self, tokens: Tokens) -> Tokens:
        raise self.error

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]:
        raise self.error


async def test_a_utility_that_is_down_is_503_with_retry_after_and_refusal_is_502(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, runtime: Runtime
) -> None:
    start = last_midnight() - timedelta(days=5)
    runtime.connectors["pge"] = BrokenConnector(  # type: ignore[assignment]
        ConnectorError("utility_down", "The utility did not answer in time.", retryable=True)
    )
    down = await intervals(client, acme, meter_id, start, start + timedelta(days=1))
    assert "did not answer" in assert_problem(down, 503)["detail"]
    assert down.headers["retry-after"] == "30"

    runtime.connectors["pge"] = BrokenConnector(  # type: ignore[assignment]
        ConnectorError("data_request_failed", "The utility refused the data request (403).")
    )
    refused = await intervals(client, acme, meter_id, start, start + timedelta(days=1))
    assert "refused the data request (403)" in assert_problem(refused, 502)["detail"]


async def test_a_revoked_authorization_has_no_readings(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        authorization = (await session.execute(select(UtilityAuthorization))).scalar_one()
        authorization.status = "REVOKED"
        authorization.revoked_at = utc_now()
    start = last_midnight() - timedelta(days=5)
    response = await intervals(client, acme, meter_id, start, start + timedelta(days=1))
    assert "REVOKED" in assert_problem(response, 409)["detail"]


async def test_a_window_must_be_forward_and_at_most_31_days(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    meter_id = str(uuid.uuid4())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for end, message in [
        (start, "must be after start"),
        (start - timedelta(days=1), "must be after start"),
        (start + timedelta(days=31, seconds=1), "at most 31 days"),
    ]:
        problem = assert_problem(await intervals(client, acme, meter_id, start, end), 422)
        assert problem["errors"] == [{"field": "end", "message": problem["errors"][0]["message"]}]
        assert message in problem["errors"][0]["message"]
    missing = await client.get(f"/v2/meters/{meter_id}/intervals", headers=acme.headers)
    fields = {error["field"] for error in assert_problem(missing, 422)["errors"]}
    assert fields == {"query.start", "query.end"}
    naive = await client.get(
        f"/v2/meters/{meter_id}/intervals",
        params={"start": "2026-01-01T00:00:00", "end": "2026-01-02"},
        headers=acme.headers,
    )
    assert_problem(naive, 404)  # a time without an offset is UTC; the meter is what is missing
