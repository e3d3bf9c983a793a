"""/v2/webhooks: managing endpoints, the secret shown once, and the paginated delivery log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from leap_connect.runtime import Runtime
from leap_connect.webhooks.events import EVENT_TYPES
from tests.conftest import BASE_URL
from tests.functional.webhooks.conftest import api_key_for, create_endpoint
from tests.functional.webhooks.receiver import Receiver
from tests.support.factories import Partner, create_partner

URL = "https://partner.example/webhooks"


async def test_the_secret_is_shown_once_at_creation_and_never_again(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(
        "/v2/webhooks",
        json={"url": URL, "event_types": ["meter.created"], "headers": {"X-Gateway": "g"}},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["url"] == URL
    assert created["event_types"] == ["meter.created"]
    assert created["enabled"] is True
    assert created["headers"] == {"X-Gateway": "g"}
    assert created["disabled_reason"] is None

    shown = (await api.get(f"/v2/webhooks/{created['webhook_endpoint_id']}")).json()
    listed = (await api.get("/v2/webhooks")).json()["webhook_endpoints"]
    assert "secret" not in shown
    assert listed == [shown]
    assert created["secret"] not in str(listed)
    assert shown == {key: value for key, value in created.items() if key != "secret"}


async def test_put_replaces_the_settings(api: httpx.AsyncClient) -> None:
    created = (
        await api.post("/v2/webhooks", json={"url": URL, "event_types": list(EVENT_TYPES)})
    ).json()
    body = {
        "url": "https://partner.example/v2/hooks",
        "event_types": ["agreement.signed", "agreement.signed"],
        "enabled": False,
    }
    response = await api.put(f"/v2/webhooks/{created['webhook_endpoint_id']}", json=body)
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["url"] == body["url"]
    assert replaced["event_types"] == ["agreement.signed"]
    assert replaced["enabled"] is False
    assert replaced["headers"] == {}


async def test_deleting_an_endpoint_removes_it_and_its_log(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(api, receiver)
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"
    assert (await api.post(f"{path}/test")).status_code == 202

    assert (await api.delete(path)).status_code == 204

    assert (await api.get(path)).status_code == 404
    assert (await api.get(f"{path}/deliveries")).status_code == 404
    assert (await api.get("/v2/webhooks")).json() == {"webhook_endpoints": []}
    assert (await api.delete(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": URL, "event_types": []}, "event_types"),
        ({"url": URL, "event_types": ["meter.deleted"]}, "event_types.0"),
        ({"url": "ftp://partner.example/x", "event_types": ["meter.created"]}, "url"),
        ({"url": "/relative", "event_types": ["meter.created"]}, "url"),
        ({"url": "https://user:pw@partner.example/", "event_types": ["meter.created"]}, "url"),
        (
            {"url": URL, "event_types": ["meter.created"], "headers": {"webhook-signature": "x"}},
            "headers",
        ),
        ({"url": URL, "event_types": ["meter.created"], "headers": {"Bad Name": "x"}}, "headers"),
        ({"url": URL, "event_types": ["meter.created"], "headers": {"X-A": "a\nb"}}, "headers"),
    ],
)
async def test_an_invalid_endpoint_is_refused_with_what_to_fix(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/v2/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {error["field"] for error in response.json()["errors"]}
    assert (await api.get("/v2/webhooks")).json() == {"webhook_endpoints": []}


async def test_another_organizations_endpoint_is_not_found(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = {"url": URL, "event_types": ["meter.created"]}
    created = (await api.post("/v2/webhooks", json=body)).json()
    path = f"/v2/webhooks/{created['webhook_endpoint_id']}"
    other = await create_partner(runtime, name="other", flow_title="other-flow")
    headers = await api_key_for(runtime, other)

    attempts = [
        await api.get(path, headers=headers),
        await api.put(path, json=body, headers=headers),
        await api.delete(path, headers=headers),
        await api.post(f"{path}/test", headers=headers),
        await api.post(f"{path}/rotate-secret", headers=headers),
        await api.get(f"{path}/deliveries", headers=headers),
    ]
    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert (await api.get("/v2/webhooks", headers=headers)).json() == {"webhook_endpoints": []}
    assert (await api.get(path)).status_code == 200


async def test_webhooks_need_a_key_with_the_webhooks_manage_scope(
    app: FastAPI, runtime: Runtime, partner: Partner
) -> None:
    transport = httpx.ASGITransport(app=app)
    headers = await api_key_for(runtime, partner, ["meters:read"])
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
        assert (await anonymous.get("/v2/webhooks")).status_code == 401
        assert (await anonymous.get("/v2/webhooks", headers=headers)).status_code == 403


async def test_the_delivery_log_pages_newest_first_without_repeats(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(api, receiver)
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"
    queued = [(await api.post(f"{path}/test")).json()["delivery_id"] for _ in range(5)]

    seen: list[str] = []
    pages = 0
    params: dict[str, Any] = {"page_size": 2}
    while True:
        page = (await api.get(f"{path}/deliveries", params=params)).json()
        pages += 1
        seen += [delivery["delivery_id"] for delivery in page["deliveries"]]
        if page["next_page_token"] is None:
            break
        params["page_token"] = page["next_page_token"]
    assert pages == 3
    assert seen == list(reversed(queued))

    pending = (await api.get(f"{path}/deliveries", params={"status": "PENDING"})).json()
    assert len(pending["deliveries"]) == 5
    assert (await api.get(f"{path}/deliveries", params={"status": "FAILED"})).json() == {
        "deliveries": [],
        "next_page_token": None,
    }


async def test_a_page_token_from_another_listing_is_refused(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(api, receiver)
    path = f"/v2/webhooks/{endpoint['webhook_endpoint_id']}"
    for _ in range(2):
        await api.post(f"{path}/test")
    token = (await api.get(f"{path}/deliveries", params={"page_size": 1})).json()["next_page_token"]

    for params in (
        {"page_token": token, "status": "PENDING"},
        {"page_token": token[:-2] + "00"},
        {"page_token": "garbage"},
    ):
        response = await api.get(f"{path}/deliveries", params=params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["field"] == "page_token"
