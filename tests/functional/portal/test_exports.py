"""Meters and sessions as CSV for the filter on screen: every page of them, formula-safe."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from leap_connect.models import Meter
from leap_connect.portal import exports
from leap_connect.runtime import Runtime
from tests.functional.portal.conftest import Portal
from tests.functional.portal.journey import finish_journey
from tests.support.factories import Partner


def records(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_the_meters_csv_holds_every_meter_the_search_finds_over_many_pages(
    app: FastAPI,
    signed_in: Portal,
    partner: Partner,
    client: httpx.AsyncClient,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await finish_journey(client, app, ref_id="cust-1")
    second = await finish_journey(client, app, ref_id="cust-2", customer="residential+b")
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(Meter).where(Meter.id == second.id).values(end_customer_name="=HYPERLINK(1)")
        )
    monkeypatch.setattr(exports, "EXPORT_PAGE_SIZE", 1)  # one meter a page: the file spans pages

    page = await signed_in.open("/portal/meters?utility=pge")
    [link] = page.document.xpath("//a[starts-with(@href,'/portal/meters.csv')]/@href")
    response = await signed_in.client.get(link)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="meters-')
    rows = records(response)
    assert {row["Meter ID"] for row in rows} == {str(first.id), str(second.id)}
    assert {row["Customer name"] for row in rows} == {"Ada Lovelace", "'=HYPERLINK(1)"}
    assert {row["Utility"] for row in rows} == {"PG&E"}
    assert {row["Authorization"] for row in rows} == {"Sharing data"}
    filtered = records(await signed_in.client.get("/portal/meters.csv?reference=cust-2"))
    assert [row["Reference ID"] for row in filtered] == ["cust-2"]


async def test_a_meters_csv_with_a_bad_date_goes_back_to_the_search_that_says_why(
    signed_in: Portal, partner: Partner
) -> None:
    response = await signed_in.client.get("/portal/meters.csv?from=yesterday")

    assert response.status_code == 303
    page = await signed_in.open(response.headers["location"])
    assert "Dates must be given as YYYY-MM-DD." in page.text


async def test_the_sessions_csv_follows_the_status_filter(
    app: FastAPI,
    signed_in: Portal,
    partner: Partner,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await finish_journey(client, app, ref_id="@cust-1")
    await finish_journey(client, app, ref_id="cust-2", customer="residential+b")
    monkeypatch.setattr(exports, "EXPORT_PAGE_SIZE", 1)

    page = await signed_in.open("/portal/sessions?status=COMPLETED")
    [link] = page.document.xpath("//a[starts-with(@href,'/portal/sessions.csv')]/@href")
    rows = records(await signed_in.client.get(link))
    closed = records(await signed_in.client.get("/portal/sessions.csv?status=CLOSED"))

    assert sorted(row["Reference ID"] for row in rows) == ["'@cust-1", "cust-2"]
    assert {(row["Status"], row["Status code"]) for row in rows} == {("Finished", "COMPLETED")}
    assert {row["Flow"] for row in rows} == {"Ca homes"}
    assert {row["Utilities"] for row in rows} == {"PG&E: Connected"}
    assert closed == []
