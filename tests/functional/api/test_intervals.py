"""Interval readings: fetched from the utility through the meter's connector, then kept."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.models import Meter, UtilityAuthorization, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import ConnectorError, Interval, Tokens
from leap_connect.utilities.green_button import batch_url
from tests.functional.api.conftest import ApiPartner, assert_problem, connect_meters
from tests.support.browser import Browser


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes calls to the in-process sandbox and remembers which readings were asked for."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.reading_requests: list[httpx.URL] = []
        self.next_answer: httpx.Response | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/Batch/Subscription/" in request.url.path:
            self.reading_requests.append(request.url)
            answer, self.next_answer = self.next_answer, None
            if answer is not None:
                return answer
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


PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific_midnight(moment: datetime, later: int = 0) -> datetime:
    """Midnight in California at or before `moment`, or `later` days after that, in UTC."""
    local = moment.astimezone(PACIFIC)
    day = local.date() + timedelta(days=later if later and local.time() != time() else 0)
    return datetime.combine(day, time(), tzinfo=PACIFIC).astimezone(UTC)


def espi_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    # Asked by PG&E's local days (as its LocalTimeParameters say), a day to spare each side.
    asked = utility.reading_requests[-1].params
    assert asked["published-min"] == espi_time(pacific_midnight(start - timedelta(days=2)))
    assert asked["published-max"] == espi_time(pacific_midnight(start + timedelta(days=1), 1))


async def test_days_the_utility_may_still_publish_are_asked_for_again(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, utility: CountingTransport
) -> None:
    end = last_midnight() + timedelta(hours=6)
    start = end - timedelta(days=2)
    first = await intervals(client, acme, meter_id, start, end)
    assert first.status_code == 200
    # The utility publishes whole days of its own (California's), up to the last UTC midnight:
    # the hours after its last local midnight are not published yet.
    published = pacific_midnight(last_midnight())
    assert len(first.json()["intervals"]) == (published - start) // timedelta(hours=1)
    again = await intervals(client, acme, meter_id, start, end)
    assert again.json() == first.json()
    # The day before yesterday is kept; yesterday and today may still change, so are asked again.
    assert len(utility.reading_requests) == 2
    asked = utility.reading_requests[-1].params
    yesterday = last_midnight() - timedelta(days=1)
    assert asked["published-min"] == espi_time(pacific_midnight(yesterday - timedelta(days=1)))


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


# --- series: directions and interval lengths ------------------------------------------------------

ESPI = "{http://naesb.org/espi}"
ATOM = "{http://www.w3.org/2005/Atom}"


def wh_by_direction(document: bytes) -> dict[int, dict[datetime, int]]:
    """Wh per flow direction and start, read straight from an ESPI Batch feed (multiplier 0)."""
    root = ET.fromstring(document)
    direction_of_type: dict[str, int] = {}
    type_of_reading: dict[str, str] = {}
    for entry in root.iter(f"{ATOM}entry"):
        links = {link.get("rel"): link.get("href") for link in entry.iter(f"{ATOM}link")}
        reading_type = entry.find(f"{ATOM}content/{ESPI}ReadingType")
        if reading_type is not None:
            assert reading_type.findtext(f"{ESPI}powerOfTenMultiplier") == "0"
            assert reading_type.findtext(f"{ESPI}uom") == "72"
            flow = reading_type.findtext(f"{ESPI}flowDirection")
            direction_of_type[str(links["self"])] = int(str(flow))
        if entry.find(f"{ATOM}content/{ESPI}MeterReading") is not None:
            related = [
                str(link.get("href"))
                for link in entry.iter(f"{ATOM}link")
                if "/ReadingType/" in str(link.get("href"))
            ]
            type_of_reading[str(links["self"])] = related[0]
    found: dict[int, dict[datetime, int]] = {}
    for entry in root.iter(f"{ATOM}entry"):
        block = entry.find(f"{ATOM}content/{ESPI}IntervalBlock")
        if block is None:
            continue
        up = next(
            str(link.get("href")) for link in entry.iter(f"{ATOM}link") if link.get("rel") == "up"
        )
        flow = direction_of_type[type_of_reading[up.removesuffix("/IntervalBlock")]]
        for reading in block.iter(f"{ESPI}IntervalReading"):
            start = datetime.fromtimestamp(
                int(str(reading.findtext(f"{ESPI}timePeriod/{ESPI}start"))), UTC
            )
            found.setdefault(flow, {})[start] = int(str(reading.findtext(f"{ESPI}value")))
    return found


async def test_a_solar_customers_day_matches_the_utilitys_espi_file_to_the_watt_hour(
    browser: Browser,
    client: httpx.AsyncClient,
    acme: ApiPartner,
    runtime: Runtime,
    utility: CountingTransport,
) -> None:
    await connect_meters(browser, acme, ref_id="sunny-1", username="solar")
    [meter] = (await client.post("/v2/meters/search", json={}, headers=acme.headers)).json()[
        "meters"
    ]
    day = last_midnight() - timedelta(days=20)

    response = await intervals(client, acme, meter["meter_id"], day, day + timedelta(days=1))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["interval_seconds"] == 900
    readings = body["intervals"]
    assert len(readings) == 96

    # What the utility published for that day, read from its ESPI file with its own token.
    async with runtime.sessionmaker() as session:
        authorization = (await session.execute(select(UtilityAuthorization))).scalar_one()
        stored = (await session.execute(select(Meter))).scalar_one()
    assert authorization.access_token_encrypted and stored.usage_point_uri
    token = runtime.encryptor.decrypt(authorization.access_token_encrypted)
    published = await client.get(
        batch_url(stored.usage_point_uri),
        params={  # the whole California days around that UTC day
            "published-min": espi_time(pacific_midnight(day)),
            "published-max": espi_time(pacific_midnight(day + timedelta(days=1), 1)),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert published.status_code == 200
    wh = wh_by_direction(published.content)
    delivered, received = wh[1], wh[19]
    assert len(delivered) == len(received) == 2 * 96
    assert sum(received.values()) > 0 and sum(delivered.values()) > 0  # it exports and imports

    for reading in readings:
        start = datetime.fromisoformat(reading["start"])
        assert round(reading["kwh_delivered"] * 1000) == delivered[start]
        assert round(reading["kwh_received"] * 1000) == received[start]
        assert round(reading["kwh"] * 1000) == delivered[start] - received[start]
    exporting = [reading for reading in readings if reading["kwh"] < 0]
    assert exporting and all(reading["kwh_received"] > 0 for reading in exporting)


async def test_a_meter_read_in_one_direction_has_no_received_energy(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str
) -> None:
    start = last_midnight() - timedelta(days=4)
    response = await intervals(client, acme, meter_id, start, start + timedelta(hours=2))
    body = response.json()
    assert body["interval_seconds"] == 3600
    assert [r["kwh_received"] for r in body["intervals"]] == [None, None]
    assert all(r["kwh"] == r["kwh_delivered"] > 0 for r in body["intervals"])


async def test_an_interval_length_the_meter_is_not_read_at_is_a_clear_422(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str
) -> None:
    start = last_midnight() - timedelta(days=4)
    response = await client.get(
        f"/v2/meters/{meter_id}/intervals",
        params={
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
            "interval_seconds": 900,
        },
        headers=acme.headers,
    )
    problem = assert_problem(response, 422)
    assert "no 900-second readings" in problem["detail"] and "3600 seconds" in problem["detail"]
    asked = await client.get(
        f"/v2/meters/{meter_id}/intervals",
        params={
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
            "interval_seconds": 3600,
        },
        headers=acme.headers,
    )
    assert asked.status_code == 200 and len(asked.json()["intervals"]) == 24


class ScriptedConnector:
    """A utility that answers each data request with the next of its prepared answers."""

    def __init__(self, *answers: list[Interval]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[datetime, datetime]] = []

    async def fetch_usage(
        self, tokens: Tokens, usage_point_uri: str, start: datetime, end: datetime
    ) -> list[Interval]:
        self.asked.append((start, end))
        return self.answers.pop(0)


async def test_a_day_the_utility_published_nothing_for_is_not_kept_as_empty(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, runtime: Runtime
) -> None:
    day = last_midnight() - timedelta(days=60)
    reading = Interval(day + timedelta(hours=5), 3600, 1.25, interval_seconds=3600)
    utility = ScriptedConnector([], [reading])
    runtime.connectors["pge"] = utility  # type: ignore[assignment]

    empty = await intervals(client, acme, meter_id, day, day + timedelta(days=1))
    assert empty.status_code == 200 and empty.json()["intervals"] == []
    later = await intervals(client, acme, meter_id, day, day + timedelta(days=1))

    assert len(utility.asked) == 2  # the empty day was asked for again
    assert [(r["start"], r["kwh"]) for r in later.json()["intervals"]] == [
        ((day + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), 1.25)
    ]


async def test_data_being_prepared_is_try_again_later_and_nothing_is_kept(
    client: httpx.AsyncClient, acme: ApiPartner, meter_id: str, utility: CountingTransport
) -> None:
    start = last_midnight() - timedelta(days=6)
    utility.next_answer = httpx.Response(202, headers={"Retry-After": "120"})

    preparing = await intervals(client, acme, meter_id, start, start + timedelta(days=1))

    problem = assert_problem(preparing, 503)
    assert "still preparing this data" in problem["detail"]
    assert preparing.headers["retry-after"] == "120"
    ready = await intervals(client, acme, meter_id, start, start + timedelta(days=1))
    assert len(ready.json()["intervals"]) == 24
    assert len(utility.reading_requests) == 2  # the 202 kept no day as empty
