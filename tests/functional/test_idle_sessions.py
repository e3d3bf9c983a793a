"""Sessions nobody touches for 24 hours are closed by the background worker."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from leap_connect.jobs.registry import import_handler_modules
from leap_connect.jobs.worker import Worker
from leap_connect.models import ConnectSession, WebhookEvent, utc_now
from leap_connect.runtime import Runtime
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, create_partner

DETAILS = RESIDENTIAL_DETAILS


async def open_session(client: httpx.AsyncClient, ref_id: str) -> None:
    browser = Browser(client)
    landing = await browser.open(f"/acme/ca-homes?refId={ref_id}")
    await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS, follow=False)


async def test_a_session_idle_for_24_hours_is_closed_and_reported(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await create_partner(runtime)
    await open_session(client, "idle")
    await open_session(
        httpx.AsyncClient(transport=client._transport, base_url=client.base_url), "busy"
    )
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(
            update(ConnectSession)
            .where(ConnectSession.partner_reference == "idle")
            .values(last_interaction_at=utc_now() - timedelta(hours=24, minutes=1))
        )

    import_handler_modules()
    ran = await Worker(runtime).run_until_idle()
    assert ran >= 1

    async with runtime.sessionmaker() as db:
        statuses = dict(
            (
                await db.execute(select(ConnectSession.partner_reference, ConnectSession.status))
            ).all()
        )
        closed_events = [
            event.payload["connect_session"]["partner_reference"]
            for event in (await db.execute(select(WebhookEvent))).scalars()
            if event.event_type == "connect_session.updated"
            and event.payload["connect_session"]["status"] == "CLOSED"
        ]
    assert statuses == {"idle": "CLOSED", "busy": "CREATED"}
    assert closed_events == ["idle"]
