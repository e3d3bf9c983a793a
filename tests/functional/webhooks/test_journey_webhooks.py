"""A partner's receiver gets one verified webhook per change of a customer's journey."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from leap_connect.jobs.worker import Worker
from leap_connect.models import Meter, WebhookEvent
from leap_connect.runtime import Runtime
from tests.functional.test_journey import connect_utility
from tests.functional.webhooks.conftest import all_settled, create_endpoint
from tests.functional.webhooks.receiver import Receiver
from tests.support.browser import Browser
from tests.support.factories import Partner


def summary(event: dict[str, Any]) -> tuple[str, str]:
    """An event as (type, what it says changed): the status, or the meter's utility."""
    payload = event["payload"]
    kind = payload["webhook_event_type"]
    if kind == "connect_session.updated":
        return kind, payload["connect_session"]["status"]
    if kind == "connect_session.authorization_updated":
        authorization = payload["authorization"]
        return kind, f"{authorization['utility_id']} {authorization['status']}"
    return kind, payload["meter"]["utility"]["utility_id"]


async def recorded_event_ids(runtime: Runtime) -> list[str]:
    async with runtime.sessionmaker() as session:
        statement = select(WebhookEvent.id).order_by(WebhookEvent.created_at)
        return [str(event_id) for event_id in await session.scalars(statement)]


async def test_commercial_journey_sends_one_verified_event_per_change(
    browser: Browser,
    partner: Partner,
    api: httpx.AsyncClient,
    receiver: Receiver,
    worker: Worker,
    runtime: Runtime,
) -> None:
    await create_endpoint(api, receiver)

    landing = await browser.open("/acme/ca-homes?requestedUtilities=sce,sdge&refId=biz-9")
    details = {
        "customer_type": "commercial",
        "customer_name": "Grace Hopper",
        "customer_email": "grace@example.com",
        "company_name": "Hopper Foods",
    }
    session_page = await connect_utility(browser, landing, "sce", "commercial", details)
    session_page = await connect_utility(browser, session_page, "sdge", "commercial")
    finished = await browser.submit(session_page, button=("action", "continue"))
    assert finished.status == 303
    await all_settled(runtime)

    # Every delivery carried a valid Standard Webhooks signature (the receiver refuses others).
    assert len(receiver.events) == len(receiver.received)
    ids = [item.headers["webhook-id"] for item in receiver.received]
    assert len(set(ids)) == len(ids)
    assert ids == [event["webhook_event_id"] for event in receiver.events]
    # One delivery per recorded change, none twice. They go out oldest first, several at once
    # (the events of one change may arrive in any order), so the partner orders them by created_at.
    events = sorted(receiver.events, key=lambda event: event["created_at"])
    assert [event["webhook_event_id"] for event in events] == await recorded_event_ids(runtime)

    changes = [summary(event) for event in events]
    assert changes[0] == ("connect_session.updated", "CREATED")
    assert changes[-1] == ("connect_session.updated", "COMPLETED")
    meters = [change for change in changes if change[0] == "meter.created"]
    assert meters == [("meter.created", "sce")] * 3 + [("meter.created", "sdge")] * 3
    for utility_id in ("sce", "sdge"):
        initiated = changes.index(
            ("connect_session.authorization_updated", f"{utility_id} INITIATED")
        )
        assert initiated < changes.index(("meter.created", utility_id))

    async with runtime.sessionmaker() as session:
        meter_ids = {str(meter_id) for meter_id in await session.scalars(select(Meter.id))}
    sent_meter_ids = {
        event["payload"]["meter"]["meter_id"]
        for event in receiver.events
        if event["payload"]["webhook_event_type"] == "meter.created"
    }
    assert sent_meter_ids == meter_ids
    session_ids = {
        event["payload"]["connect_session"]["connect_session_id"]
        for event in receiver.events
        if event["payload"]["webhook_event_type"] == "connect_session.updated"
    }
    assert len(session_ids) == 1
    assert all(
        event["payload"]["meter"]["partner_reference"] == "biz-9"
        for event in receiver.events
        if event["payload"]["webhook_event_type"] == "meter.created"
    )


async def recorded_changes(runtime: Runtime) -> list[tuple[str, str]]:
    """Every event the outbox holds, oldest first, as (type, what it says changed)."""
    return [summary({"payload": payload}) for payload in await recorded_payloads(runtime)]


async def recorded_payloads(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessionmaker() as session:
        statement = select(WebhookEvent.payload).order_by(WebhookEvent.created_at)
        return list(await session.scalars(statement))


def authorization_statuses(payload: dict[str, Any]) -> list[str]:
    """The authorizations a `connect_session.updated` payload lists, as "utility STATUS"."""
    return [
        f"{item['utility_id']} {item['status']}"
        for item in payload["connect_session"]["authorizations"]
    ]


RESIDENTIAL = {
    "customer_type": "residential",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
}


async def test_residential_journey_records_one_event_per_change_in_order(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=cust-123")
    session_page = await connect_utility(browser, landing, "pge", "residential", RESIDENTIAL)
    assert "Connected · 1 meter" in session_page.text
    finished = await browser.submit(session_page, button=("action", "continue"))
    assert finished.status == 303

    assert await recorded_changes(runtime) == [
        ("connect_session.updated", "CREATED"),
        ("connect_session.authorization_updated", "pge INITIATED"),
        ("connect_session.authorization_updated", "pge COMPLETED"),
        ("meter.created", "pge"),
        ("connect_session.updated", "UPDATED"),
        ("connect_session.updated", "COMPLETED"),
    ]
    sessions = [
        authorization_statuses(payload)
        for payload in await recorded_payloads(runtime)
        if payload["webhook_event_type"] == "connect_session.updated"
    ]
    assert sessions == [[], ["pge COMPLETED"], ["pge COMPLETED"]]


async def test_declined_authorization_records_its_failure_and_then_the_retry(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=cust-123")
    at_utility = await browser.submit(landing, button=("utility_id", "pge"), fields=RESIDENTIAL)
    declined = await browser.submit(
        at_utility,
        button=("decision", "deny"),
        fields={"username": "residential", "password": "sandbox"},
    )
    assert "You declined to share your data" in declined.text
    session_page = await connect_utility(browser, declined, "pge", "residential")
    finished = await browser.submit(session_page, button=("action", "continue"))
    assert finished.status == 303

    assert await recorded_changes(runtime) == [
        ("connect_session.updated", "CREATED"),
        ("connect_session.authorization_updated", "pge INITIATED"),
        ("connect_session.authorization_updated", "pge FAILED"),
        ("connect_session.updated", "UPDATED"),
        ("connect_session.authorization_updated", "pge INITIATED"),
        ("connect_session.authorization_updated", "pge COMPLETED"),
        ("meter.created", "pge"),
        ("connect_session.updated", "UPDATED"),
        ("connect_session.updated", "COMPLETED"),
    ]
    payloads = await recorded_payloads(runtime)
    failed = payloads[2]["authorization"]
    assert (failed["status"], failed["error_code"]) == ("FAILED", "access_denied")
    sessions = [
        authorization_statuses(payload)
        for payload in payloads
        if payload["webhook_event_type"] == "connect_session.updated"
    ]
    assert sessions == [
        [],
        ["pge FAILED"],
        ["pge FAILED", "pge COMPLETED"],
        ["pge FAILED", "pge COMPLETED"],
    ]
