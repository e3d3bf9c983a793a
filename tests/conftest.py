"""Test fixtures: a fresh database per test (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.app import create_app, runtime_of_app
from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.migrations import runner
from leap_connect.models import Base
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.support import reference_data
from tests.support.browser import Browser
from tests.support.factories import Partner, create_partner

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BASE_URL = "http://testserver"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying how many reference-data tests were skipped, and how to run them."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if reference_data.SKIP_REASON in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} reference-data tests skipped: set {reference_data.VARIABLE} to the"
            " folder holding greenbutton/ and leap/ to run them (README, Reference data)",
            yellow=True,
        )


def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _admin_execute(url: str, *statements: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
    async with engine.connect() as connection:
        for statement in statements:
            await connection.execute(text(statement))
    await engine.dispose()


def create_postgres_database(name: str) -> str:
    """A new empty PostgreSQL database next to TEST_DATABASE_URL's; returns its URL."""
    assert TEST_DATABASE_URL
    admin_url = make_url(TEST_DATABASE_URL)
    asyncio.run(
        _admin_execute(
            admin_url.render_as_string(hide_password=False),
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"',
        )
    )
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    assert TEST_DATABASE_URL
    asyncio.run(_admin_execute(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once per test worker: a SQLite file to copy, or a PostgreSQL database to empty."""
    if TEST_DATABASE_URL:
        name = f"leap_connect_test_{worker_name()}_{uuid.uuid4().hex[:8]}"
        url = create_postgres_database(name)
        runner.upgrade(url)
        yield url
        drop_postgres_database(name)
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        runner.upgrade(f"sqlite+aiosqlite:///{path}")
        yield str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if TEST_DATABASE_URL:
        yield migrated_template
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        asyncio.run(_admin_execute(migrated_template, f"TRUNCATE {tables} CASCADE"))
    else:
        path = tmp_path / "leap-connect.db"
        shutil.copyfile(migrated_template, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        base_url=BASE_URL,
        sandbox=True,
        env="development",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, driven in process (its lifespan does not run: `runtime` is closed here)."""
    app = create_app(settings)
    yield app
    await runtime_of_app(app).close()


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    return runtime_of_app(app)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def db(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A session on the app's database for arranging and checking; commit what you arrange."""
    async with runtime.sessionmaker() as session:
        yield session


@pytest.fixture
async def standalone_db(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
async def partner(runtime: Runtime) -> Partner:
    """`acme` with its flow `ca-homes`, as most journey tests start (modules may have their own)."""
    return await create_partner(runtime)


@pytest.fixture
def browser(app: FastAPI, client: httpx.AsyncClient, runtime: Runtime) -> Browser:
    """A customer's browser; the app's calls to the sandbox utilities stay in process."""
    runtime.http.transport = httpx.ASGITransport(app=app)
    return Browser(client)
