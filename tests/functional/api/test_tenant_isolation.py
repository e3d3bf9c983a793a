"""Two organizations: each endpoint refuses (404) or hides the other's objects, search included."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from leap_connect.models import ConnectSession, Meter
from leap_connect.runtime import Runtime
from tests.functional.api.conftest import ApiPartner, assert_problem, seed_meters
from tests.support.factories import create_partner


async def test_no_endpoint_shows_or_changes_another_organizations_objects(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, globex: ApiPartner
) -> None:
    # Both organizations use the same references, so only the organization tells them apart.
    shared = {"partner_reference": "cust-1", "connection_references": ("cust-1",)}
    ours = await seed_meters(runtime, acme, 2, **shared)  # type: ignore[arg-type]
    theirs = await seed_meters(runtime, globex, 2, **shared)  # type: ignore[arg-type]
    async with runtime.sessionmaker() as session:
        sessions = (await session.execute(select(ConnectSession))).scalars()
        their_session = next(s for s in sessions if s.organization_id == globex.organization_id)
    their_meter = theirs[0]
    headers = acme.headers

    # One object by ID: 404, exactly as for an ID that does not exist.
    for path in (
        f"/v2/meters/{their_meter}",
        f"/v2/meters/{their_meter}/intervals?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z",
        f"/v2/connect/sessions/{their_session.id}",
    ):
        assert_problem(await client.get(path, headers=headers), 404)
    changed = await client.patch(
        f"/v2/meters/{their_meter}/partner_reference",
        json={"partner_reference": "mine-now"},
        headers=headers,
    )
    assert_problem(changed, 404)
    bulk = await client.patch(
        "/v2/meters/partner_reference",
        json={"updates": [{"meter_id": str(their_meter), "partner_reference": "mine-now"}]},
        headers=headers,
    )
    assert bulk.json()["results"][0]["status"] == "not_found"
    async with runtime.sessionmaker() as session:
        untouched = await session.get(Meter, their_meter)
    assert untouched is not None and untouched.partner_reference == "cust-1"

    # Searches and lists: only our own, whatever the filters name.
    for body in (
        {},
        {"partner_references": ["cust-1"]},
        {"connection_reference_ids": ["cust-1"]},
        {"meter_ids": [str(i) for i in ours + theirs]},
        {"utility_ids": ["pge"], "created_after_date_time": "2000-01-01T00:00:00Z"},
    ):
        found = await client.post("/v2/meters/search", json=body, headers=headers)
        assert sorted(m["meter_id"] for m in found.json()["meters"]) == sorted(map(str, ours))
    listed = await client.get("/v2/connect/sessions", headers=headers)
    assert {s["connect_session_id"] for s in listed.json()["connect_sessions"]}.isdisjoint(
        {str(their_session.id)}
    )
    assert len(listed.json()["connect_sessions"]) == 1
    by_reference = await client.get(
        "/v2/connect/sessions", params={"partner_reference": "cust-1"}, headers=globex.headers
    )
    assert [s["connect_session_id"] for s in by_reference.json()["connect_sessions"]] == [
        str(their_session.id)
    ]


async def test_flows_and_links_are_only_our_own(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner
) -> None:
    await create_partner(runtime, name="initech", flow_title="initech-only")
    flows = await client.get("/v2/connect/flows", headers=acme.headers)
    assert [flow["flow"] for flow in flows.json()["flows"]] == ["ca-homes"]
    link = await client.post(
        "/v2/connect/links", json={"flow": "initech-only"}, headers=acme.headers
    )
    assert assert_problem(link, 422)["errors"][0]["field"] == "flow"


async def test_interval_readings_of_another_organizations_meter_are_never_fetched(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, globex: ApiPartner
) -> None:
    [their_meter] = await seed_meters(
        runtime, globex, 1, usage_point_uri="https://utility.example/UsagePoint/1"
    )
    runtime.connectors.clear()  # any call to a utility would now fail loudly with 503
    response = await client.get(
        f"/v2/meters/{their_meter}/intervals",
        params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        headers=acme.headers,
    )
    assert_problem(response, 404)
