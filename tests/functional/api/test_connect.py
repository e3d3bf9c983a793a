"""Flows, links checked like the landing page, and the connection statuses of real journeys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from leap_connect.models import ConnectFlow, utc_now
from leap_connect.runtime import Runtime
from tests.functional.api.conftest import ApiPartner, assert_problem, connect_meters
from tests.support.browser import Browser

LINKS = "/v2/connect/links"
SESSIONS = "/v2/connect/sessions"


async def test_flows_lists_what_each_link_offers(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    response = await client.get("/v2/connect/flows", headers=acme.headers)
    assert response.status_code == 200
    assert response.json() == {
        "flows": [
            {
                "flow": "ca-homes",
                "title": "Ca homes",
                "transmission_region": "CAISO",
                "utilities": ["pge", "sce", "sdge"],
                "customer_types": ["residential", "commercial"],
                "enabled": True,
                "thank_you_url": "https://partner.example/thanks",
                "url": "http://testserver/acme/ca-homes",
            }
        ]
    }


async def test_a_link_from_the_api_opens_the_landing_page_it_describes(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    response = await client.post(
        LINKS,
        json={
            "flow": "ca-homes",
            "requested_utilities": [" SCE ", "pge", "sce"],
            "ref_id": "c 1/2",
        },
        headers=acme.headers,
    )
    assert response.status_code == 200, response.text
    link = response.json()
    assert link == {
        "url": "http://testserver/acme/ca-homes?requestedUtilities=sce,pge&refId=c%201%2F2",
        "flow": "ca-homes",
        "requested_utilities": ["sce", "pge"],
        "ref_id": "c 1/2",
    }
    landing = await client.get(link["url"])
    assert landing.status_code == 200
    assert "Southern California Edison" in landing.text
    assert "San Diego" not in landing.text


async def test_a_link_without_utilities_or_reference_offers_everything(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    response = await client.post(LINKS, json={"flow": "ca-homes"}, headers=acme.headers)
    assert response.json()["url"] == "http://testserver/acme/ca-homes"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"flow": "nope"}, {"flow": 'acme has no enabled flow named "nope".'}),
        (
            {"flow": "ca-homes", "requested_utilities": ["pge", "duke"]},
            {
                "requested_utilities": 'Unknown utility ID "duke". Supported utility IDs: pge, '
                "sce, sdge, cecony-utilityapi, oru-utilityapi, psegli-utilityapi."
            },
        ),
        (
            {"flow": "ca-homes", "requested_utilities": ["cecony-utilityapi"]},
            {
                "requested_utilities": 'This link asks for "cecony-utilityapi", which this flow '
                "does not offer. It offers: pge, sce, sdge."
            },
        ),
        (
            {"flow": "ca-homes", "requested_utilities": ["duke"], "ref_id": "x" * 300},
            {
                "requested_utilities": 'Unknown utility ID "duke". Supported utility IDs: pge, '
                "sce, sdge, cecony-utilityapi, oru-utilityapi, psegli-utilityapi.",
                "ref_id": "refId is 300 characters long; the limit is 255.",
            },
        ),
        (
            {"flow": "nope", "ref_id": "line\nbreak"},
            {
                "flow": 'acme has no enabled flow named "nope".',
                "ref_id": "refId may contain only printable ASCII characters; character 5 is a "
                "control character (U+000A).",
            },
        ),
    ],
)
async def test_a_bad_link_is_422_naming_each_bad_field_as_the_landing_page_would(
    client: httpx.AsyncClient, acme: ApiPartner, body: dict[str, Any], errors: dict[str, str]
) -> None:
    problem = assert_problem(await client.post(LINKS, json=body, headers=acme.headers), 422)
    assert {error["field"]: error["message"] for error in problem["errors"]} == errors


async def test_a_disabled_flow_makes_no_links(
    client: httpx.AsyncClient, acme: ApiPartner, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(update(ConnectFlow).values(enabled=False))
    problem = assert_problem(
        await client.post(LINKS, json={"flow": "ca-homes"}, headers=acme.headers), 422
    )
    assert problem["errors"][0]["field"] == "flow"


async def sessions(client: httpx.AsyncClient, owner: ApiPartner, **params: Any) -> dict[str, Any]:
    response = await client.get(SESSIONS, params=params, headers=owner.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_connection_statuses_follow_each_customer_through_the_journey(
    client: httpx.AsyncClient, browser: Browser, acme: ApiPartner
) -> None:
    await connect_meters(browser, acme, ref_id="done-1")
    await connect_meters(browser, acme, ref_id="halfway-2", finish=False)
    failed = await browser.open("/acme/ca-homes?requestedUtilities=sce&refId=failed-3")
    at_utility = await browser.submit(
        failed,
        button=("utility_id", "sce"),
        fields={
            "customer_type": "residential",
            "customer_name": "Bo",
            "customer_email": "bo@example.com",
        },
    )
    await browser.submit(at_utility, button=("decision", "deny"), fields={"username": "x"})

    listed = await sessions(client, acme)
    assert [s["partner_reference"] for s in listed["connect_sessions"]] == [
        "failed-3",
        "halfway-2",
        "done-1",
    ]
    by_reference = {s["partner_reference"]: s for s in listed["connect_sessions"]}
    done = by_reference["done-1"]
    assert done["status"] == "COMPLETED" and done["customer_type"] == "residential"
    assert done["flow"] == "ca-homes" and done["last_interaction_date_time_utc"]
    [authorization] = done["authorizations"]
    assert authorization["utility_id"] == "pge" and authorization["status"] == "COMPLETED"
    assert authorization["utility_is_required"] is True and authorization["error_code"] is None
    assert by_reference["halfway-2"]["status"] == "UPDATED"
    [denied] = by_reference["failed-3"]["authorizations"]
    assert (denied["status"], denied["error_code"]) == ("FAILED", "access_denied")

    one = await client.get(f"{SESSIONS}/{done['connect_session_id']}", headers=acme.headers)
    assert one.json() == done

    only_completed = await sessions(client, acme, status="COMPLETED")
    assert [s["partner_reference"] for s in only_completed["connect_sessions"]] == ["done-1"]
    only_halfway = await sessions(client, acme, partner_reference="halfway-2")
    assert [s["partner_reference"] for s in only_halfway["connect_sessions"]] == ["halfway-2"]
    assert (await sessions(client, acme, updated_after=utc_now().isoformat()))[
        "connect_sessions"
    ] == []
    recent = await sessions(
        client, acme, updated_after=(utc_now() - timedelta(hours=1)).isoformat()
    )
    assert len(recent["connect_sessions"]) == 3


async def test_connection_statuses_page_like_meters(
    client: httpx.AsyncClient, browser: Browser, acme: ApiPartner, globex: ApiPartner
) -> None:
    for n in range(5):
        landing = await browser.open(f"/acme/ca-homes?refId=page-{n}")
        await browser.submit(
            landing,
            button=("utility_id", "pge"),
            fields={
                "customer_type": "residential",
                "customer_name": "A",
                "customer_email": "a@b.co",
            },
        )
    first = await sessions(client, acme, page_size=2)
    second = await sessions(client, acme, page_size=2, page_token=first["next_page_token"])
    third = await sessions(client, acme, page_size=2, page_token=second["next_page_token"])
    references = [
        s["partner_reference"] for page in (first, second, third) for s in page["connect_sessions"]
    ]
    assert references == [f"page-{n}" for n in reversed(range(5))]
    assert third["next_page_token"] is None
    stolen = await client.get(
        SESSIONS,
        params={"page_size": 2, "page_token": first["next_page_token"]},
        headers=globex.headers,
    )
    assert_problem(stolen, 400)
    changed = await client.get(
        SESSIONS,
        params={"page_size": 2, "status": "CREATED", "page_token": first["next_page_token"]},
        headers=acme.headers,
    )
    assert_problem(changed, 400)
