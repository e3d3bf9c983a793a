"""Two `serve` and two `worker` processes on one PostgreSQL, with the sandbox in its own process."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import WebhookDelivery, WebhookEvent
from leap_connect.webhooks.events import EVENT_TYPES
from tests.functional.webhooks.receiver import running_receiver
from tests.slow.conftest import assert_consistent, env_int, log_tail, stored
from tests.support.journeys import journey, seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server, running

pytestmark = pytest.mark.slow

JOURNEYS = env_int("LEAP_CONNECT_SLOW_INSTANCE_JOURNEYS", 10)


async def webhook_state(database_url: str) -> tuple[list[str], Counter[str]]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            events = [str(i) for i in await session.scalars(select(WebhookEvent.id))]
            statuses = Counter(await session.scalars(select(WebhookDelivery.status)))
            return events, statuses
    finally:
        await engine.dispose()


async def test_journeys_cross_serve_processes_and_two_workers_deliver_each_event_once(
    pg_url: str, tmp_path: Path
) -> None:
    token = await seed(pg_url)
    port_a, port_b = free_port(), free_port()
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    # Both processes give utilities B's callback: each journey starts on A and finishes on B.
    with (
        running_receiver() as receiver,
        sandbox_process(tmp_path, b) as sandbox,
        leap_connect_server(
            pg_url, tmp_path, {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": b}, port=port_a
        ),
        leap_connect_server(
            pg_url, tmp_path, {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": b}, port=port_b
        ),
    ):
        async with httpx.AsyncClient(base_url=a, timeout=10) as api:
            response = await api.post(
                "/v2/webhooks",
                json={"url": receiver.url, "event_types": list(EVENT_TYPES)},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
            receiver.secrets.append(response.json()["secret"])

        worker_env = {
            "LEAP_CONNECT_DATABASE_URL": pg_url,
            "LEAP_CONNECT_DATA_DIR": str(tmp_path),
            "LEAP_CONNECT_LOG_LEVEL": "WARNING",
            "LEAP_CONNECT_WEBHOOK_RETRY_DELAYS_SECONDS": json.dumps([0.05] * 7),
        }
        worker_args = ["worker", "--lease-seconds", "5", "--poll-seconds", "0.1"]
        with (
            running(
                worker_args,
                env=worker_env,
                health_url=f"{a}/healthz",
                log_path=tmp_path / "worker-1.log",
            ),
            running(
                worker_args,
                env=worker_env,
                health_url=f"{a}/healthz",
                log_path=tmp_path / "worker-2.log",
            ),
        ):

            async def customer(number: int) -> list[str]:
                async with httpx.AsyncClient(base_url=a, timeout=30) as client:
                    # Customers of their own: PG&E ends a customer's earlier grant when they
                    # authorize again, so one customer's journeys at once would cancel each other.
                    browser = await journey(
                        client,
                        sandbox,
                        f"multi-{number}",
                        also_follow=(b,),
                        username=f"residential+multi-{number}",
                    )
                    return [str(r.url) for r in browser.history]

            histories = await asyncio.gather(*(customer(n) for n in range(JOURNEYS)))
            for history in histories:
                assert history[0].startswith(a + "/acme/ca-homes"), history
                assert any(url.startswith(b + "/connect/callback/pge") for url in history), history

            events, statuses = await webhook_state(pg_url)
            deadline = time.monotonic() + 30
            while len(receiver.events) < len(events) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                events, statuses = await webhook_state(pg_url)
            await asyncio.sleep(1)  # a duplicate delivery would arrive in this time
            events, statuses = await webhook_state(pg_url)

    assert events, log_tail(tmp_path)
    delivered = Counter(item.headers["webhook-id"] for item in receiver.received)
    assert set(delivered) == set(events), log_tail(tmp_path)
    assert max(delivered.values()) == 1, [k for k, v in delivered.items() if v > 1]
    assert statuses == Counter({"SUCCEEDED": len(events)})
    sessions, attempts, meters, references = await stored(pg_url)
    assert len(sessions) == JOURNEYS and {s.status for s in sessions} == {"COMPLETED"}
    # A meter for each customer, under that customer's refId.
    assert sorted(ref for meter in meters for ref in references[meter.id]) == sorted(
        f"multi-{n}" for n in range(JOURNEYS)
    )
    assert all(len(references[meter.id]) == 1 for meter in meters)
    assert_consistent(sessions, attempts, meters, references)
