"""Schemathesis against `/openapi.json` of a real server: every partner API operation, with a valid
key, answers without a 5xx and as its OpenAPI document says (status, content type, headers, body).

The server is `leap-connect serve` on a database of its own, with a meter and sessions from a real
journey through the sandbox; half the generated IDs are swapped for those real ones, so the
operations are exercised past their 404s. Webhook operations are left to their own suite: they
would have the server deliver to URLs that schemathesis invents.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from leap_connect.app import create_app
from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.migrations import runner
from leap_connect.models import ConnectSession
from leap_connect.organizations.service import API_KEY_SCOPES, create_api_key
from leap_connect.settings import Settings
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database
from tests.functional.api.conftest import ApiPartner, connect_meters
from tests.support.browser import Browser
from tests.support.factories import create_partner
from tests.support.server import leap_connect_server

OPERATIONS = r"^/v2/(meters|connect|agreements)"  # every operation but the webhooks'
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    token: str
    meter_id: str
    connect_session_id: str


@pytest.fixture(scope="module")
def database_for_server(
    migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if TEST_DATABASE_URL:
        name = f"leap_connect_contract_{uuid.uuid4().hex[:8]}"
        url = create_postgres_database(name)
        runner.upgrade(url)
        yield url
        drop_postgres_database(name)
    else:
        path = tmp_path_factory.mktemp("contract") / "leap-connect.db"
        shutil.copyfile(migrated_template, path)
        yield f"sqlite+aiosqlite:///{path}"


async def _arrange(database_url: str, base_url: str) -> LiveApi:
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    encryptor = Encryptor(settings.encryption_keys.get_secret_value())
    partner = await create_partner((sessionmaker, encryptor))
    async with sessionmaker() as session, session.begin():
        issued = await create_api_key(
            session,
            settings.secret_key.get_secret_value(),
            organization=partner.organization,
            scopes=list(API_KEY_SCOPES),
        )
    owner = ApiPartner(partner, issued.token)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await connect_meters(Browser(http), owner, ref_id="contract-1")
        found = await http.post("/v2/meters/search", json={}, headers=owner.headers)
    async with sessionmaker() as session:
        connect_session = (await session.execute(select(ConnectSession))).scalars().first()
    await engine.dispose()
    assert connect_session is not None
    return LiveApi(
        base_url=base_url,
        token=issued.token,
        meter_id=found.json()["meters"][0]["meter_id"],
        connect_session_id=str(connect_session.id),
    )


@pytest.fixture(scope="module")
def live_api(
    database_for_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    directory: Path = tmp_path_factory.mktemp("contract-server")
    # Schemathesis sends hundreds of requests with one key: the rate limit is not under test here.
    extra_env = {"LEAP_CONNECT_API_RATE_LIMIT": "100000/minute"}
    with leap_connect_server(database_for_server, directory, extra_env) as base_url:
        yield asyncio.run(_arrange(database_for_server, base_url))


@pytest.fixture(scope="module")
def http(live_api: LiveApi) -> Iterator[requests.Session]:
    """One connection pool for every case, closed before the server stops (or it waits for it)."""
    with requests.Session() as session:
        yield session


def openapi_document() -> dict[str, Any]:
    """The document `/openapi.json` serves, built in-process so the operations are known when
    tests are collected (the served one is checked to be the same below)."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    return app.openapi()


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT).include(path_regex=OPERATIONS)


def test_the_server_serves_the_document_under_test(live_api: LiveApi) -> None:
    served = httpx.get(f"{live_api.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")


# Framing headers with invented values are refused by the HTTP server before the app sees them.
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "expect"}


def _prepare(case: Any, live_api: LiveApi) -> None:
    """Swap about half the generated IDs and interval windows for real ones (chosen by what was
    generated, so a case replays the same way), and leave out invented framing headers."""
    if case.headers:
        case.headers = {
            name: value
            for name, value in case.headers.items()
            if name.lower() not in FRAMING_HEADERS
        }
    parameters = case.path_parameters or {}
    for name, real in (
        ("meter_id", live_api.meter_id),
        ("connect_session_id", live_api.connect_session_id),
    ):
        generated = str(parameters.get(name, ""))
        if generated and sum(map(ord, generated)) % 2 == 0:
            parameters[name] = real
    query = case.query if isinstance(case.query, dict) else {}
    if case.operation.path.endswith("/intervals") and sum(map(ord, str(query))) % 2 == 0:
        # A window the sandbox has readings for, so the fetch-and-keep path runs too.
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        case.query = {
            "start": (end - timedelta(days=2)).isoformat(),
            "end": end.isoformat(),
        }


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_openapi_document_says(
    case: Any, live_api: LiveApi, http: requests.Session
) -> None:
    _prepare(case, live_api)
    case.call_and_validate(
        base_url=live_api.base_url,
        session=http,
        headers={"Authorization": f"Bearer {live_api.token}"},
        checks=CHECKS,
        timeout=30,
    )
