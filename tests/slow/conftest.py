"""Shared pieces of the reliability tests: a database of their own, seeding, journeys, checks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.migrations import runner
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from leap_connect.organizations.service import create_api_key
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY, DEVELOPMENT_SECRET_KEY
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database
from tests.support.browser import Browser, Page
from tests.support.factories import RESIDENTIAL_DETAILS, create_partner

DETAILS = RESIDENTIAL_DETAILS


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, next to TEST_DATABASE_URL's."""
    if not TEST_DATABASE_URL or not TEST_DATABASE_URL.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL")
    name = f"leap_connect_slow_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(name)
    runner.upgrade(url)
    yield url
    drop_postgres_database(name)


async def seed(database_url: str) -> str:
    """The `acme` partner with its `ca-homes` flow; returns a `webhooks:manage` API key."""
    engine = create_engine(database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        partner = await create_partner((sessionmaker, Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
        async with sessionmaker() as session, session.begin():
            issued = await create_api_key(
                session,
                DEVELOPMENT_SECRET_KEY,
                organization=partner.organization,
                scopes=["webhooks:manage"],
            )
        return issued.token
    finally:
        await engine.dispose()


async def journey(
    client: httpx.AsyncClient, sandbox: str, ref_id: str, *, also_follow: tuple[str, ...] = ()
) -> Browser:
    """A customer connects PG&E and finishes; returns the browser with every response it saw."""
    browser = Browser(client, also_follow=(sandbox.split("/sandbox/")[0], *also_follow))
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities=pge&refId={ref_id}")
    assert landing.status == 200, landing.text
    at_utility = await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS)
    assert at_utility.url.startswith(sandbox), at_utility.url
    session_page: Page = await browser.submit(
        at_utility,
        button=("decision", "approve"),
        fields={"username": "residential", "password": "sandbox"},
    )
    # Every customer signs in as the sandbox's one residential customer: one meter in all, which
    # the first journey creates and the others re-connect under their own refId.
    assert "Utility connected" in session_page.text, session_page.text
    finished = await browser.submit(session_page, button=("action", "continue"), follow=False)
    assert finished.status == 303, finished.text
    return browser


Stored = tuple[
    list[ConnectSession], list[UtilityAuthorization], list[Meter], dict[uuid.UUID, set[str]]
]


async def stored(database_url: str) -> Stored:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            sessions = list(await session.scalars(select(ConnectSession)))
            attempts = list(await session.scalars(select(UtilityAuthorization)))
            meters = list(await session.scalars(select(Meter)))
            references: dict[uuid.UUID, set[str]] = {meter.id: set() for meter in meters}
            for row in await session.scalars(select(ConnectionReference)):
                references.setdefault(row.meter_id, set()).add(row.reference)
            return sessions, attempts, meters, references
    finally:
        await engine.dispose()


def assert_consistent(
    sessions: list[ConnectSession],
    attempts: list[UtilityAuthorization],
    meters: list[Meter],
    meter_references: dict[uuid.UUID, set[str]],
) -> None:
    """No half-written record: completed sessions and authorizations have what completing wrote."""
    references = {reference for meter in meters for reference in meter_references[meter.id]}
    by_id = {session.id: session for session in sessions}
    for attempt in attempts:
        if attempt.status == "COMPLETED":
            assert attempt.access_token_encrypted and attempt.authorized_at, attempt.id
            # Its meter is recorded under the session's refId.
            assert by_id[attempt.connect_session_id].partner_reference in references, attempt.id
        if attempt.status == "FAILED":
            assert attempt.error_code, attempt.id
    completed_sessions = {a.connect_session_id for a in attempts if a.status == "COMPLETED"}
    for session in sessions:
        if session.status == "COMPLETED":
            assert session.completed_at is not None, session.id
            assert session.id in completed_sessions, session.id


def log_tail(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(directory.glob("*.log")))
