"""In production, webhooks never reach loopback, private or link-local addresses, nor plain http."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from leap_connect.app import create_app
from leap_connect.jobs.worker import in_process_worker
from leap_connect.kit.crypto import generate_encryption_key
from leap_connect.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from leap_connect.webhooks.delivery import WebhookClient, create_client
from leap_connect.webhooks.ssrf import resolve
from tests.conftest import BASE_URL
from tests.functional.webhooks.conftest import (
    all_settled,
    api_key_for,
    record_change,
    store_endpoint,
)
from tests.support.factories import Partner, create_partner

REBOUND_HOST = "internal.partner.example"


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


class Listener:
    """Counts every TCP connection made to it, on 127.0.0.1 and, where there is IPv6, on ::1."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    counting = Listener()
    server = await asyncio.start_server(counting._accept, "127.0.0.1", 0)
    counting.port = server.sockets[0].getsockname()[1]
    servers = [server]
    with contextlib.suppress(OSError):  # no IPv6 here: [::1] is refused before connecting anyway
        servers.append(await asyncio.start_server(counting._accept, "::1", counting.port))
    yield counting
    for started in servers:
        started.close()
        await started.wait_closed()


def endpoint_body(url: str) -> dict[str, Any]:
    return {"url": url, "event_types": ["meter.created"]}


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "http://partner.example/hook",
    ],
)
async def test_the_api_refuses_non_public_or_plain_http_urls_in_production(
    production: Settings, url: str
) -> None:
    app = create_app(production)
    runtime: Runtime = app.state.runtime
    partner = await create_partner((runtime.sessionmaker, runtime.encryptor))
    try:
        transport = httpx.ASGITransport(app=app)
        headers = await api_key_for(runtime, partner)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers
        ) as api:
            refused = await api.post(
                "/v2/webhooks", json={"url": url, "event_types": ["meter.created"]}
            )
            accepted = await api.post(
                "/v2/webhooks",
                json={"url": "https://partner.example/hook", "event_types": ["meter.created"]},
            )
    finally:
        await runtime.close()
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "url"
    assert accepted.status_code == 201, accepted.text


async def test_deliveries_to_non_public_addresses_are_refused_at_delivery_time_in_production(
    runtime: Runtime, partner: Partner, production: Settings, listener: Listener
) -> None:
    port = listener.port
    expected = {
        f"https://127.0.0.1:{port}/hook": "refused: 127.0.0.1 is a loopback address",
        "https://10.0.0.1/hook": "refused: 10.0.0.1 is a private address",
        "https://169.254.169.254/latest/meta-data/": (
            "refused: 169.254.169.254 is a link-local address"
        ),
        f"https://[::1]:{port}/hook": "refused: ::1 is a loopback address",
        f"https://{REBOUND_HOST}:{port}/hook": (
            f"refused: {REBOUND_HOST} resolves to 127.0.0.1, which is a loopback address"
        ),
        f"https://localhost:{port}/hook": "refused: the host localhost is a local host name",
        f"http://partner.example:{port}/hook": "refused: webhooks are sent over https only",
    }
    # Endpoints registered before the rules (or through DNS that changed since): stored as is.
    for url in expected:
        await store_endpoint(runtime, partner, url, event_types=["meter.updated"])
    await record_change(runtime, partner)

    async def resolver(host: str, port: int) -> list[str]:
        # A name whose DNS now points inside, as in a rebinding attack.
        return ["127.0.0.1"] if host == REBOUND_HOST else await resolve(host, port)

    client = create_client(production, resolver=resolver)
    worker_runtime = replace(runtime, settings=production)
    worker_runtime.put(WebhookClient(client))
    async with in_process_worker(worker_runtime, poll_interval=0.02, lease=timedelta(seconds=10)):
        await all_settled(runtime)
    await worker_runtime.release()

    errors = await attempt_errors_by_url(runtime)
    assert set(errors) == set(expected)
    for url, error in expected.items():
        assert len(errors[url]) == 8, url  # retried on the schedule, refused every time
        assert all(logged.startswith(error) for logged in errors[url]), (url, errors[url])
    assert listener.connections == 0


async def attempt_errors_by_url(runtime: Runtime) -> dict[str, list[str]]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(WebhookEndpoint.url, WebhookDeliveryAttempt.error)
            .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
            .join(WebhookDeliveryAttempt, WebhookDeliveryAttempt.delivery_id == WebhookDelivery.id)
        )
    errors: dict[str, list[str]] = {}
    for url, error in rows:
        errors.setdefault(url, []).append(error or "")
    return errors


# Refused in every mode, development included: what a webhook to them could read or reach.
NEVER = {
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "http://[fe80::1]/hook": "fe80::1 is a link-local address",
    "http://[fec0::1]/hook": "fec0::1 is a site-local address",
    "http://[fd00:ec2::254]/latest/meta-data/": "fd00:ec2::254 is a private address",
    "http://168.63.129.16/machine": "168.63.129.16 is a cloud metadata address",
    "http://10.0.0.1/hook": "10.0.0.1 is a private address",
}
METADATA_NAME = "metadata.partner.example"


@pytest.mark.parametrize("url", NEVER)
async def test_development_refuses_link_local_site_local_and_metadata_urls(
    api: httpx.AsyncClient, url: str
) -> None:
    refused = await api.post("/v2/webhooks", json=endpoint_body(url))

    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "url"
    assert error["message"].startswith(NEVER[url])


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8001/hook", "http://localhost:8001/hook", "http://[::1]:8001/hook"]
)
async def test_development_accepts_a_receiver_on_loopback(api: httpx.AsyncClient, url: str) -> None:
    accepted = await api.post("/v2/webhooks", json=endpoint_body(url))

    assert accepted.status_code == 201, accepted.text


async def test_development_never_sends_to_link_local_site_local_or_metadata_addresses(
    runtime: Runtime, partner: Partner, settings: Settings
) -> None:
    expected = {url: f"refused: {problem}" for url, problem in NEVER.items()}
    expected[f"http://{METADATA_NAME}/computeMetadata/v1/"] = (
        f"refused: {METADATA_NAME} resolves to 169.254.169.254, which is a link-local address"
    )
    for url in expected:  # stored before the rules held in development
        await store_endpoint(runtime, partner, url, event_types=["meter.updated"])
    await record_change(runtime, partner)

    async def resolver(host: str, port: int) -> list[str]:
        # A name the partner controls, pointed at the metadata service.
        return ["169.254.169.254"] if host == METADATA_NAME else await resolve(host, port)

    assert settings.is_development
    runtime.put(WebhookClient(create_client(settings, resolver=resolver)))
    async with in_process_worker(runtime, poll_interval=0.02, lease=timedelta(seconds=10)):
        await all_settled(runtime)

    errors = await attempt_errors_by_url(runtime)
    assert set(errors) == set(expected)
    for url, error in expected.items():
        assert len(errors[url]) == 8, url
        assert all(logged.startswith(error) for logged in errors[url]), (url, errors[url])
