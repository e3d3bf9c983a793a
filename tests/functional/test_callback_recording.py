"""Once the utility has exchanged the code, the grant is kept, whatever fails after."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from leap_connect.app import create_app, runtime_of_app
from leap_connect.connect import authorizations, repository
from leap_connect.jobs.registry import import_handler_modules
from leap_connect.jobs.worker import Worker
from leap_connect.models import Job, Meter, UtilityAuthorization, WebhookEvent, utc_now
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from leap_connect.utilities.connector import Grant
from tests.conftest import BASE_URL
from tests.functional.test_callback import attempts, callback_url, meter_count
from tests.support.browser import Browser
from tests.support.factories import Partner

ALREADY_USED = "already used"


class ProcessKilled(BaseException):
    """The process stops dead (a deploy, the OOM killer): no handler runs, nothing is answered."""


def fail_meter_recording_once(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The final write's first attempt fails the way the database (or the process) can."""
    original = authorizations.record_meters
    calls = 0

    async def record_meters(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return await original(*args, **kwargs)

    monkeypatch.setattr(authorizations, "record_meters", record_meters)


async def run_jobs(runtime: Runtime) -> int:
    """Run every job due in the next few minutes, as `leap-connect worker` would."""
    import_handler_modules()
    later = Worker(runtime, clock=lambda: utc_now() + timedelta(minutes=5))
    return await later.run_until_idle()


async def recording_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessionmaker() as session:
        statement = select(Job).where(Job.kind == "connect.record_authorization")
        return list(await session.scalars(statement))


async def event_types(runtime: Runtime) -> list[str]:
    async with runtime.sessionmaker() as session:
        statement = select(WebhookEvent.event_type).order_by(WebhookEvent.created_at)
        return list(await session.scalars(statement))


JOURNEY_EVENTS = [
    "connect_session.updated",
    "connect_session.authorization_updated",
    "connect_session.authorization_updated",
    "meter.created",
    "connect_session.updated",
]


def assert_grant_kept(runtime: Runtime, attempt: UtilityAuthorization) -> None:
    stored = attempt.access_token_encrypted
    assert stored is not None
    assert runtime.encryptor.decrypt(stored) not in stored  # kept, and encrypted
    assert attempt.refresh_token_encrypted is not None
    assert attempt.pkce_verifier_encrypted is None


async def test_a_failed_final_write_keeps_the_grant_and_a_job_records_it(
    browser: Browser, partner: Partner, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await callback_url(browser)
    fail_meter_recording_once(
        monkeypatch, OperationalError("INSERT INTO meters", {}, Exception("connection reset"))
    )

    page = await browser.open(url)
    assert page.status == 200
    assert "Finishing your connection" in page.text
    assert "Continue" not in page.text  # nothing is recorded yet to continue with
    [attempt] = await attempts(runtime)
    assert attempt.status == "INITIATED"
    assert_grant_kept(runtime, attempt)
    assert await meter_count(runtime) == 0

    # Reloading the callback (or the session page) shows the same, never "already used".
    reloaded = await browser.open(url)
    assert reloaded.status == 200
    assert urlsplit(reloaded.url).path == urlsplit(page.url).path
    assert "Finishing your connection" in reloaded.text
    assert ALREADY_USED not in reloaded.text

    assert [job.status for job in await recording_jobs(runtime)] == ["QUEUED"]
    await run_jobs(runtime)
    assert [job.status for job in await recording_jobs(runtime)] == ["DONE"]
    done = await browser.open(page.url)
    assert "Connected · 1 meter" in done.text
    [attempt] = await attempts(runtime)
    assert attempt.status == "COMPLETED"
    assert await meter_count(runtime) == 1
    assert await event_types(runtime) == JOURNEY_EVENTS

    # Running the jobs again, or replaying the callback, records nothing twice.
    await run_jobs(runtime)
    assert "Connected · 1 meter" in (await browser.open(url)).text
    assert await meter_count(runtime) == 1
    assert await event_types(runtime) == JOURNEY_EVENTS


async def test_a_restart_between_exchange_and_recording_loses_nothing(
    browser: Browser,
    client: httpx.AsyncClient,
    partner: Partner,
    runtime: Runtime,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = await callback_url(browser)
    fail_meter_recording_once(monkeypatch, ProcessKilled())
    with pytest.raises(ProcessKilled):
        await browser.open(url)  # no answer: the process died recording the grant
    await runtime.close()  # the process is gone; a new one starts on the same database

    restarted_app = create_app(settings)
    restarted = runtime_of_app(restarted_app)
    transport = httpx.ASGITransport(app=restarted_app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, cookies=client.cookies
        ) as same_browser:
            customer = Browser(same_browser)
            [attempt] = await attempts(restarted)
            assert_grant_kept(restarted, attempt)
            reloaded = await customer.open(url)
            assert reloaded.status == 200
            assert "Finishing your connection" in reloaded.text

            await run_jobs(restarted)
            assert [job.status for job in await recording_jobs(restarted)] == ["DONE"]
            done = await customer.open(url)
            assert "Connected · 1 meter" in done.text
        [attempt] = await attempts(restarted)
        assert attempt.status == "COMPLETED"
        async with restarted.sessionmaker() as session:
            meters = list(await session.scalars(select(Meter)))
        assert [(m.utility_id, m.utility_authorization_id) for m in meters] == [("pge", attempt.id)]
        assert await event_types(restarted) == JOURNEY_EVENTS
    finally:
        await restarted.close()


async def test_the_job_and_the_request_racing_record_the_grant_once(
    browser: Browser, partner: Partner, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await callback_url(browser)
    fail_meter_recording_once(
        monkeypatch, OperationalError("INSERT INTO meters", {}, Exception("connection reset"))
    )
    await browser.open(url)
    [job] = await recording_jobs(runtime)
    [attempt] = await attempts(runtime)
    assert attempt.access_token_encrypted is not None and attempt.refresh_token_encrypted
    for secret in (attempt.access_token_encrypted, attempt.refresh_token_encrypted):
        assert runtime.encryptor.decrypt(secret) not in json.dumps(job.payload)  # row only

    async def record() -> bool:
        async with runtime.sessionmaker() as session, session.begin():
            return await authorizations.record_kept_grant(session, job.payload)

    assert sorted(await asyncio.gather(record(), record(), record())) == [False, False, True]
    assert await meter_count(runtime) == 1
    assert await event_types(runtime) == JOURNEY_EVENTS
    assert await recording_jobs(runtime) == []  # withdrawn by the one that recorded it


async def test_a_database_hiccup_while_keeping_the_grant_is_tried_again(
    browser: Browser, partner: Partner, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await callback_url(browser)
    original = repository.get_authorization_with_session
    calls = 0

    async def first_write_fails(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first write after the exchange
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(repository, "get_authorization_with_session", first_write_fails)
    page = await browser.open(url)
    assert page.status == 200
    assert "Connected · 1 meter" in page.text
    [attempt] = await attempts(runtime)
    assert attempt.status == "COMPLETED"
    assert await recording_jobs(runtime) == []  # recorded at once: the fall-back is withdrawn


async def test_a_grant_that_cannot_be_kept_is_given_back_and_the_customer_asked_to_retry(
    browser: Browser,
    client: httpx.AsyncClient,
    partner: Partner,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = await callback_url(browser)
    monkeypatch.setattr(authorizations, "KEEP_RETRY_DELAYS", (0.0, 0.0))
    original = repository.get_authorization_with_session
    calls = 0

    async def database_down(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OperationalError("SELECT", {}, Exception("the database is down"))

    connector = runtime.connectors["pge"]
    given_back: list[Grant] = []
    revoke = connector.revoke

    async def spy(grant: Grant) -> None:
        given_back.append(grant)
        await revoke(grant)

    monkeypatch.setattr(connector, "revoke", spy)
    monkeypatch.setattr(repository, "get_authorization_with_session", database_down)
    page = await browser.open(url)
    monkeypatch.setattr(repository, "get_authorization_with_session", original)

    assert page.status == 503
    assert "try again" in page.text.lower()
    assert calls == 3  # the first try and one after each delay
    [grant] = given_back
    assert grant.tokens is not None
    # The utility no longer honours the grant: nothing is left there without its tokens here.
    [attempt] = await attempts(runtime)
    assert attempt.access_token_encrypted is None
    refused = await client.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": grant.tokens.refresh_token},
        auth=("leap-connect-sandbox", "sandbox-secret"),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text


async def test_a_grant_recorded_late_does_not_take_the_meter_from_a_newer_one(
    app: FastAPI,
    browser: Browser,
    partner: Partner,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A customer's callback could not record its grant (the job will), and the customer, not
    waiting, authorized again: when the job records the older grant, the meter stays with the
    newer one, which stays active, and the older grant is the one ended."""
    first_url = await callback_url(browser)
    fail_meter_recording_once(
        monkeypatch, OperationalError("INSERT INTO meters", {}, Exception("connection reset"))
    )
    assert "Finishing your connection" in (await browser.open(first_url)).text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as other_client:
        again = Browser(other_client)
        assert "Connected · 1 meter" in (await again.open(await callback_url(again))).text
    older, newer = await attempts(runtime)
    assert (older.status, newer.status) == ("INITIATED", "COMPLETED")

    await run_jobs(runtime)  # the older grant's recording, then whatever that queues
    await run_jobs(runtime)

    async with runtime.sessionmaker() as session:
        [meter] = list(await session.scalars(select(Meter)))
        older_now = await session.get(UtilityAuthorization, older.id)
        newer_now = await session.get(UtilityAuthorization, newer.id)
    assert meter.utility_authorization_id == newer.id
    assert newer_now is not None and newer_now.status == "COMPLETED"
    assert older_now is not None and older_now.status == "REVOKED"
