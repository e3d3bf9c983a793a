"""Searching meters: every filter, newest first, and paging that stays exact while meters arrive."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leap_connect.runtime import Runtime
from tests.functional.api.conftest import (
    ApiPartner,
    assert_problem,
    connect_meters,
    seed_meters,
)
from tests.support.browser import Browser

SEARCH = "/v2/meters/search"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


async def search(client: httpx.AsyncClient, owner: ApiPartner, **body: Any) -> dict[str, Any]:
    response = await client.post(SEARCH, json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def page_through(
    client: httpx.AsyncClient, owner: ApiPartner, **body: Any
) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        page = await search(client, owner, **body, page_token=token)
        pages.append([meter["meter_id"] for meter in page["meters"]])
        token = page["next_page_token"]
        if token is None:
            return pages


@pytest.fixture
async def fleet(runtime: Runtime, acme: ApiPartner) -> dict[str, str]:
    """Four meters that differ in every filtered field, created an hour apart (A oldest)."""

    async def one(name: str, hours: int, references: tuple[str, ...], **fields: Any) -> str:
        [meter_id] = await seed_meters(
            runtime,
            acme,
            1,
            first_created_at=T0 + timedelta(hours=hours),
            connection_references=references,
            **fields,
        )
        return str(meter_id)

    return {
        "A": await one("A", 0, ("conn-a",), partner_reference="ref-a"),
        "B": await one(
            "B",
            1,
            ("conn-b", "conn-shared"),
            partner_reference="ref-b",
            utility_id="sce",
            customer_classification="COMMERCIAL",
        ),
        "C": await one(
            "C",
            2,
            (),
            utility_id="cecony-utilityapi",
            transmission_region="NYISO",
            customer_classification="COMMERCIAL",
            is_archived=True,
            updated_at=T0 + timedelta(days=10),
        ),
        "D": await one("D", 3, ("conn-shared",), partner_reference="ref-d", utility_id="sdge"),
    }


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


FILTERS_ALONE: list[tuple[dict[str, Any], str]] = [
    ({}, "DCBA"),
    ({"partner_references": ["ref-a", "ref-d", "nobody"]}, "DA"),
    ({"connection_reference_ids": ["conn-shared"]}, "DB"),
    ({"connection_reference_ids": ["conn-a", "conn-b"]}, "BA"),
    ({"utility_ids": ["sce", "cecony-utilityapi"]}, "CB"),
    ({"transmission_region": "NYISO"}, "C"),
    ({"transmission_region": "CAISO"}, "DBA"),
    ({"customer_classification": "COMMERCIAL"}, "CB"),
    ({"customer_classification": "RESIDENTIAL"}, "DA"),
    ({"created_after_date_time": at(1)}, "DCB"),
    ({"created_before_date_time": at(1)}, "A"),
    ({"last_modified_date_time": at(24)}, "C"),
    ({"exclude_archived": True}, "DBA"),
    ({"partner_references": []}, ""),
]


@pytest.mark.parametrize(("body", "expected"), FILTERS_ALONE)
async def test_each_filter_alone_finds_exactly_its_meters_newest_first(
    client: httpx.AsyncClient,
    acme: ApiPartner,
    fleet: dict[str, str],
    body: dict[str, Any],
    expected: str,
) -> None:
    page = await search(client, acme, **body)
    assert [meter["meter_id"] for meter in page["meters"]] == [fleet[name] for name in expected]
    assert page["next_page_token"] is None


async def test_meter_ids_filter_finds_only_those_meters(
    client: httpx.AsyncClient, acme: ApiPartner, fleet: dict[str, str]
) -> None:
    page = await search(client, acme, meter_ids=[fleet["A"], fleet["C"], str(uuid.uuid4())])
    assert [meter["meter_id"] for meter in page["meters"]] == [fleet["C"], fleet["A"]]


FILTERS_COMBINED: list[tuple[dict[str, Any], str]] = [
    ({"utility_ids": ["sce", "sdge"], "customer_classification": "COMMERCIAL"}, "B"),
    ({"connection_reference_ids": ["conn-shared"], "partner_references": ["ref-b"]}, "B"),
    ({"transmission_region": "CAISO", "created_after_date_time": at(0.5)}, "DB"),
    ({"created_after_date_time": at(1), "created_before_date_time": at(3)}, "CB"),
    ({"customer_classification": "COMMERCIAL", "exclude_archived": True}, "B"),
    ({"last_modified_date_time": at(24), "exclude_archived": True}, ""),
    ({"meter_ids": "ABCD", "utility_ids": ["pge", "sdge"], "partner_references": ["ref-a"]}, "A"),
    (
        {
            "connection_reference_ids": ["conn-a", "conn-shared"],
            "utility_ids": ["pge", "sce", "sdge"],
            "transmission_region": "CAISO",
            "customer_classification": "RESIDENTIAL",
            "created_after_date_time": at(-1),
            "created_before_date_time": at(10),
            "last_modified_date_time": at(-1),
            "exclude_archived": True,
        },
        "DA",
    ),
]


@pytest.mark.parametrize(("body", "expected"), FILTERS_COMBINED)
async def test_combined_filters_must_all_match(
    client: httpx.AsyncClient,
    acme: ApiPartner,
    fleet: dict[str, str],
    body: dict[str, Any],
    expected: str,
) -> None:
    if body.get("meter_ids") == "ABCD":
        body = {**body, "meter_ids": list(fleet.values())}
    page = await search(client, acme, **body)
    assert [meter["meter_id"] for meter in page["meters"]] == [fleet[name] for name in expected]


async def test_unknown_utility_and_region_are_refused_by_name(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    for body, field in [
        ({"utility_ids": ["pge", "duke"]}, "utility_ids.1"),
        ({"transmission_region": "ERCOT"}, "transmission_region"),
        ({"customer_classification": "INDUSTRIAL"}, "customer_classification"),
        ({"created_after_date_time": "yesterday"}, "created_after_date_time"),
    ]:
        problem = assert_problem(await client.post(SEARCH, json=body, headers=acme.headers), 422)
        assert [error["field"] for error in problem["errors"]] == [field]
    duke = await client.post(SEARCH, json={"utility_ids": ["duke"]}, headers=acme.headers)
    assert "Unknown utility ID 'duke'; supported: pge," in duke.json()["errors"][0]["message"]


async def test_paging_1234_meters_by_100_returns_each_once_while_new_meters_arrive(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner
) -> None:
    existing = await seed_meters(runtime, acme, 1234, step=timedelta(milliseconds=7))
    seen: list[str] = []
    arrived: list[uuid.UUID] = []
    token = None
    pages = 0
    while True:
        page = await search(client, acme, page_size=100, page_token=token)
        pages += 1
        seen += [meter["meter_id"] for meter in page["meters"]]
        arrived += await seed_meters(runtime, acme, 3, first_created_at=datetime.now(UTC))
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == 13
    assert len(seen) == len(set(seen)) == 1234
    assert seen == [str(meter_id) for meter_id in reversed(existing)]
    # The meters that arrived meanwhile are newer than the search: a new search starts with them.
    newest = await search(client, acme, page_size=len(arrived))
    assert {m["meter_id"] for m in newest["meters"]} == {str(i) for i in arrived}


async def test_meters_created_at_the_same_instant_still_page_exactly(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner
) -> None:
    same_instant = await seed_meters(runtime, acme, 250, step=timedelta(0))
    pages = await page_through(client, acme, page_size=60)
    assert [len(page) for page in pages] == [60, 60, 60, 60, 10]
    flat = [meter_id for page in pages for meter_id in page]
    assert sorted(flat) == sorted(str(meter_id) for meter_id in same_instant)


async def test_a_page_token_only_continues_its_own_search(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, globex: ApiPartner
) -> None:
    await seed_meters(runtime, acme, 5, utility_id="sce")
    await seed_meters(runtime, globex, 5)
    token = (await search(client, acme, page_size=2, utility_ids=["sce"]))["next_page_token"]
    assert token
    good = await search(client, acme, page_size=2, utility_ids=["sce"], page_token=token)
    assert len(good["meters"]) == 2

    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    body, _, signature = token.partition(".")
    forged_body = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    for bad in (tampered, f"{forged_body}.{signature}", "garbage", token + "."):
        response = await client.post(
            SEARCH,
            json={"page_size": 2, "utility_ids": ["sce"], "page_token": bad},
            headers=acme.headers,
        )
        assert assert_problem(response, 400)["errors"][0]["field"] == "page_token"
    other_filters = await client.post(
        SEARCH, json={"page_size": 2, "page_token": token}, headers=acme.headers
    )
    assert_problem(other_filters, 400)
    other_organization = await client.post(
        SEARCH,
        json={"page_size": 2, "utility_ids": ["sce"], "page_token": token},
        headers=globex.headers,
    )
    assert_problem(other_organization, 400)


async def test_meters_from_a_journey_are_found_by_partner_and_connection_reference(
    client: httpx.AsyncClient, browser: Browser, acme: ApiPartner
) -> None:
    await connect_meters(browser, acme, ref_id="cust-1")
    [meter] = (await search(client, acme, partner_references=["cust-1"]))["meters"]
    assert meter["partner_reference"] == "cust-1"
    assert meter["connection_references"] == ["cust-1"]
    assert meter["utility"]["utility_id"] == "pge" and meter["utility"]["utility_name"] == "PGE"
    assert meter["customer"]["end_customer_name"] == "Ada Lovelace"
    assert meter["authorization"]["status"] == "ACTIVE"
    assert meter["meter_type"] == "UTILITY_METER" and meter["utility_is_required"] is True

    # The same customer connects again under another Reference ID: still one meter, found by both.
    await connect_meters(browser, acme, ref_id="cust-2")
    [again] = (await search(client, acme, connection_reference_ids=["cust-2"]))["meters"]
    assert again["meter_id"] == meter["meter_id"]
    assert again["partner_reference"] == "cust-1"
    assert again["connection_references"] == ["cust-1", "cust-2"]
    assert (await search(client, acme, partner_references=["cust-2"]))["meters"] == []
    fetched = await client.get(f"/v2/meters/{meter['meter_id']}", headers=acme.headers)
    assert fetched.json() == again
