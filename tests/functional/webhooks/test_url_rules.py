"""A webhook URL is accepted only if deliveries can use it; one stored before is a logged failure.

Registration and every delivery attempt judge a URL by the same rules (`ssrf.url_problem`, with
httpx's parser): a host name DNS cannot look up, or a number that resolvers would read as an
address, is refused with a 422 naming `url`, through the API and the portal alike; an endpoint
stored with one before is tried on its schedule, each attempt logged with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from leap_connect.jobs.worker import in_process_worker
from leap_connect.kit.crypto import generate_encryption_key
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from leap_connect.webhooks.delivery import WebhookClient, create_client
from tests.functional.portal.conftest import ADMIN_EMAIL, Portal, add_user, error_text
from tests.functional.webhooks.conftest import (
    all_settled,
    deliveries,
    record_change,
    store_endpoint,
)
from tests.support.factories import Partner

LONG_LABEL = "a" * 64
# The URLs the issue found, and why each is refused: registration says it as a sentence, the
# delivery log after "refused: ".
UNDELIVERABLE = {
    "https://a..b/": "the host name a..b has an empty label",
    f"https://{LONG_LABEL}.partner.example/": (
        f"the host name {LONG_LABEL}.partner.example has a label longer than 63 characters"
    ),
    "https://0177.0.0.1/": "the URL is not valid: Invalid IPv4 address",
    "https://2130706433/": "the host 2130706433 ends in a number but is not an IPv4 address",
    "https://0x7f.0.0.1/": "the host 0x7f.0.0.1 ends in a number but is not an IPv4 address",
    "https://partner.example:99999/": "the URL's port must be 1 to 65535",
}


def sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:]


@pytest.mark.parametrize("url", UNDELIVERABLE)
async def test_a_url_deliveries_could_never_use_is_refused_by_the_api_naming_url(
    api: httpx.AsyncClient, url: str
) -> None:
    created = await api.post("/v2/webhooks", json={"url": url, "event_types": ["meter.created"]})

    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == "application/problem+json"
    problem = created.json()
    assert [error["field"] for error in problem["errors"]] == ["url"]
    assert problem["errors"][0]["message"].startswith(sentence(UNDELIVERABLE[url]))
    assert (await api.get("/v2/webhooks")).json() == {"webhook_endpoints": []}


@pytest.mark.parametrize("url", UNDELIVERABLE)
async def test_replacing_an_endpoints_url_with_one_never_deliverable_is_refused(
    api: httpx.AsyncClient, url: str
) -> None:
    body = {"url": "https://partner.example/hooks", "event_types": ["meter.created"]}
    created = (await api.post("/v2/webhooks", json=body)).json()
    path = f"/v2/webhooks/{created['webhook_endpoint_id']}"

    replaced = await api.put(path, json={**body, "url": url})

    assert replaced.status_code == 422, replaced.text
    assert [error["field"] for error in replaced.json()["errors"]] == ["url"]
    assert (await api.get(path)).json()["url"] == body["url"]


@pytest.fixture
async def portal_admin(client: httpx.AsyncClient, runtime: Runtime, partner: Partner) -> Portal:
    await add_user(runtime, partner, ADMIN_EMAIL, "admin")
    portal = Portal(client)
    assert (await portal.sign_in(ADMIN_EMAIL)).status_code == 303
    return portal


@pytest.mark.parametrize("url", UNDELIVERABLE)
async def test_the_portal_refuses_the_same_urls_with_the_same_reason(
    portal_admin: Portal, api: httpx.AsyncClient, url: str
) -> None:
    page = await portal_admin.post(
        "/portal/developers/webhooks",
        {"url": url, "event_type": ["meter.created"]},
        csrf_from="/portal/developers",
    )

    assert page.status == 400, page.text
    assert error_text(page, "url").startswith(sentence(UNDELIVERABLE[url]))
    assert (await api.get("/v2/webhooks")).json() == {"webhook_endpoints": []}


@pytest.fixture
def production(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "env": "production",
            "secret_key": SecretStr("a-production-secret-key-of-enough-length"),
            "encryption_keys": SecretStr(generate_encryption_key()),
            "base_url": "https://connect.example",
        }
    )


@pytest.mark.parametrize("mode", ["production", "development"])
async def test_an_endpoint_stored_with_such_a_url_logs_each_attempt_as_refused_and_is_failing(
    runtime: Runtime,
    partner: Partner,
    api: httpx.AsyncClient,
    production: Settings,
    settings: Settings,
    mode: str,
) -> None:
    endpoints = {
        url: await store_endpoint(runtime, partner, url, event_types=["meter.updated"])
        for url in UNDELIVERABLE
    }
    await record_change(runtime, partner)

    worker_settings = production if mode == "production" else settings
    worker_runtime = replace(runtime, settings=worker_settings)
    worker_runtime.put(WebhookClient(create_client(worker_settings)))
    async with in_process_worker(worker_runtime, poll_interval=0.02, lease=timedelta(seconds=10)):
        await all_settled(runtime)
    await worker_runtime.release()

    for url, endpoint in endpoints.items():
        [delivery] = await deliveries(api, str(endpoint.id))
        assert delivery["status"] == "FAILED", url
        assert len(delivery["attempts"]) == 8, url  # the whole schedule, each one logged
        for attempt in delivery["attempts"]:
            assert attempt["status_code"] is None
            assert attempt["error"].startswith(f"refused: {UNDELIVERABLE[url]}"), attempt
        shown = (await api.get(f"/v2/webhooks/{endpoint.id}")).json()
        assert shown["failing_since"] is not None, url
