"""Fixing partner references, one or many: checked like a refId, audited, announced by webhook."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from leap_connect.models import AuditLogEntry, Meter, WebhookEvent
from leap_connect.runtime import Runtime
from tests.functional.api.conftest import ApiPartner, assert_problem, connect_meters, seed_meters
from tests.support.browser import Browser

BULK = "/v2/meters/partner_reference"


async def audit_entries(runtime: Runtime) -> list[AuditLogEntry]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(select(AuditLogEntry).order_by(AuditLogEntry.created_at))
        return list(result.scalars())


async def reference_events(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(
            select(WebhookEvent)
            .where(WebhookEvent.event_type == "meter.partner_reference.updated")
            .order_by(WebhookEvent.created_at)
        )
        return [event.payload for event in result.scalars()]


async def partner_references(runtime: Runtime) -> dict[str, str | None]:
    async with runtime.sessionmaker() as session:
        meters = (await session.execute(select(Meter))).scalars()
        return {str(meter.id): meter.partner_reference for meter in meters}


async def test_fixing_a_journey_meters_reference_is_audited_and_announced(
    client: httpx.AsyncClient, browser: Browser, acme: ApiPartner, runtime: Runtime
) -> None:
    await connect_meters(browser, acme, ref_id="typo-123")
    [meter] = (await client.post("/v2/meters/search", json={}, headers=acme.headers)).json()[
        "meters"
    ]

    response = await client.patch(
        f"/v2/meters/{meter['meter_id']}/partner_reference",
        json={"partner_reference": "cust-123"},
        headers=acme.headers,
    )

    assert response.status_code == 200, response.text
    fixed = response.json()
    assert fixed["partner_reference"] == "cust-123"
    assert fixed["connection_references"] == ["typo-123"]  # how it was connected does not change
    assert fixed["audit"]["updated_at"] > meter["audit"]["updated_at"]
    [entry] = await audit_entries(runtime)
    assert (entry.actor_type, entry.action, entry.object_id) == (
        "api_key",
        "meter.partner_reference.updated",
        meter["meter_id"],
    )
    assert entry.actor_id and uuid.UUID(entry.actor_id)
    assert entry.before == {"partner_reference": "typo-123"}
    assert entry.after == {"partner_reference": "cust-123"}
    [event] = await reference_events(runtime)
    assert event["meter"] == fixed
    assert event["previous_partner_reference"] == "typo-123"


async def test_setting_the_same_reference_again_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner
) -> None:
    [meter_id] = await seed_meters(runtime, acme, 1, partner_reference="cust-1")
    response = await client.patch(
        f"/v2/meters/{meter_id}/partner_reference",
        json={"partner_reference": "cust-1"},
        headers=acme.headers,
    )
    assert response.status_code == 200
    assert await audit_entries(runtime) == []
    assert await reference_events(runtime) == []


async def test_a_reference_breaking_the_refid_rule_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner
) -> None:
    [meter_id] = await seed_meters(runtime, acme, 1, partner_reference="cust-1")
    for value, message in [
        ("x" * 256, "partner_reference is 256 characters long; the limit is 255."),
        ("caf\u00e9", 'character 4 is "\u00e9" (U+00E9), which is not ASCII'),
        ("tab\there", "character 4 is a control character (U+0009)"),
        ("", "partner_reference is empty"),
    ]:
        response = await client.patch(
            f"/v2/meters/{meter_id}/partner_reference",
            json={"partner_reference": value},
            headers=acme.headers,
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "partner_reference"
        assert message in problem["errors"][0]["message"]
    assert (await partner_references(runtime))[str(meter_id)] == "cust-1"
    assert await audit_entries(runtime) == []


async def test_bulk_update_applies_the_good_items_and_reports_each_bad_one(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, globex: ApiPartner
) -> None:
    first, second, third = await seed_meters(runtime, acme, 3, partner_reference="old")
    [foreign] = await seed_meters(runtime, globex, 1, partner_reference="theirs")
    missing = uuid.uuid4()
    updates = [
        {"meter_id": str(first), "partner_reference": "new-1"},
        {"meter_id": "not-a-meter-id", "partner_reference": "new-x"},
        {"meter_id": str(missing), "partner_reference": "new-m"},
        {"meter_id": str(foreign), "partner_reference": "stolen"},
        {"meter_id": str(second), "partner_reference": "bad\u0000ref"},
        {"meter_id": str(third), "partner_reference": "old"},
        {"meter_id": str(second).upper(), "partner_reference": "new-2"},
    ]

    response = await client.patch(BULK, json={"updates": updates}, headers=acme.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["meter_id"], r["status"]) for r in body["results"]] == [
        (str(first), "updated"),
        ("not-a-meter-id", "invalid"),
        (str(missing), "not_found"),
        (str(foreign), "not_found"),
        (str(second), "invalid"),
        (str(third), "unchanged"),
        (str(second).upper(), "updated"),
    ]
    results = body["results"]
    assert results[0]["meter"]["partner_reference"] == "new-1" and results[0]["detail"] is None
    assert "control character" in results[4]["detail"] and results[4]["meter"] is None
    assert results[3]["detail"] == results[2]["detail"] == "There is no meter with this ID."
    assert (body["updated_count"], body["unchanged_count"], body["failed_count"]) == (2, 1, 4)
    assert await partner_references(runtime) == {
        str(first): "new-1",
        str(second): "new-2",
        str(third): "old",
        str(foreign): "theirs",
    }
    entries = await audit_entries(runtime)
    assert sorted((e.object_id, e.before, e.after) for e in entries) == sorted(
        [
            (str(first), {"partner_reference": "old"}, {"partner_reference": "new-1"}),
            (str(second), {"partner_reference": "old"}, {"partner_reference": "new-2"}),
        ]
    )
    events = await reference_events(runtime)
    assert sorted(event["meter"]["partner_reference"] for event in events) == ["new-1", "new-2"]


async def test_bulk_update_takes_at_most_500_items(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    item = {"meter_id": str(uuid.uuid4()), "partner_reference": "x"}
    problem = assert_problem(
        await client.patch(BULK, json={"updates": [item] * 501}, headers=acme.headers), 422
    )
    assert problem["errors"][0]["field"] == "updates"
    assert_problem(await client.patch(BULK, json={"updates": []}, headers=acme.headers), 422)
