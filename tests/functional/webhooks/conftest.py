"""Webhook test fixtures: a partner with an API key, a local receiver and an in-process worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.jobs.worker import Worker, in_process_worker
from leap_connect.models import WebhookDelivery, WebhookEndpoint
from leap_connect.organizations.service import create_api_key
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from leap_connect.webhooks.events import EVENT_TYPES, record_event
from tests.conftest import BASE_URL
from tests.functional.webhooks.receiver import Receiver, running_receiver
from tests.support.factories import Partner

# Retries in tests come after 50 ms instead of 5 s ... 10 h; the schedule is the same length.
FAST_RETRIES = (0.05,) * 7
STORED_SECRET = "whsec_" + "c2VjcmV0" * 4  # the signing secret of endpoints `store_endpoint` makes


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        base_url=BASE_URL,
        sandbox=True,
        env="development",
        webhook_retry_delays_seconds=FAST_RETRIES,
        webhook_timeout_seconds=2,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as started:
        yield started


async def api_key_for(
    runtime: Runtime, partner: Partner, scopes: list[str] | None = None
) -> dict[str, str]:
    async with runtime.sessionmaker() as session, session.begin():
        issued = await create_api_key(
            session,
            runtime.secret_key,
            organization=partner.organization,
            scopes=scopes or ["webhooks:manage"],
        )
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
async def api(app: FastAPI, runtime: Runtime, partner: Partner) -> AsyncIterator[httpx.AsyncClient]:
    """The partner's API client: the app over ASGI, with a `webhooks:manage` key."""
    transport = httpx.ASGITransport(app=app)
    headers = await api_key_for(runtime, partner)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http:
        yield http


async def create_endpoint(
    api: httpx.AsyncClient,
    receiver: Receiver,
    *,
    event_types: tuple[str, ...] | list[str] = EVENT_TYPES,
    **fields: Any,
) -> dict[str, Any]:
    """Register the receiver's URL and hand it the secret, as a partner would."""
    response = await api.post(
        "/v2/webhooks",
        json={"url": receiver.url, "event_types": list(event_types), **fields},
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


async def store_endpoint(
    runtime: Runtime,
    partner: Partner,
    url: str,
    *,
    event_types: tuple[str, ...] | list[str] = EVENT_TYPES,
    plain_headers: dict[str, str] | None = None,
) -> WebhookEndpoint:
    """An endpoint as stored before today's rules (a URL or headers now refused, headers in
    plain JSON): written straight to the database, as no API would now."""
    async with runtime.sessionmaker() as session, session.begin():
        endpoint = WebhookEndpoint(
            organization_id=partner.organization.id,
            url=url,
            event_types=list(event_types),
            headers=plain_headers or {},
            secret_encrypted=runtime.encryptor.encrypt(STORED_SECRET),
        )
        session.add(endpoint)
    return endpoint


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Worker]:
    """A worker in the test's event loop, one job (an endpoint's batch) at a time, polling often."""
    async with in_process_worker(
        runtime, poll_interval=0.02, lease=timedelta(seconds=10), batch_size=1
    ) as running:
        yield running


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, *, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def deliveries(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    """Every delivery in the endpoint's log, newest first, following the pages."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 100}
        if token:
            params["page_token"] = token
        response = await api.get(f"/v2/webhooks/{endpoint_id}/deliveries", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["deliveries"]
        token = page["next_page_token"]
        if token is None:
            return found


async def all_settled(runtime: Runtime) -> None:
    """Wait until no delivery is pending (asking the database, not the rate-limited API)."""

    async def settled() -> bool:
        async with runtime.sessionmaker() as session:
            statuses = list(await session.scalars(select(WebhookDelivery.status)))
        return bool(statuses) and "PENDING" not in statuses

    await eventually(settled, "every delivery is settled")


async def record_change(
    runtime: Runtime, partner: Partner, event_type: str = "meter.updated", **payload: Any
) -> str:
    """A change the partner subscribes to, recorded as the journey does; returns the event id."""
    async with runtime.sessionmaker() as session, session.begin():
        event = await record_event(
            session,
            organization_id=partner.organization.id,
            event_type=event_type,
            payload=payload or {"meter": {"meter_id": "m-1"}},
        )
    return str(event.id)
