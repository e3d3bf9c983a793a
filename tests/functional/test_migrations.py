"""The migration chain builds the schema from nothing, and the models match it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect

from leap_connect.db import create_engine
from leap_connect.migrations import runner
from leap_connect.models import Base
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


def test_whole_chain_on_empty_sqlite_matches_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    runner.upgrade(url)
    runner.check(url)
    assert set(Base.metadata.tables) <= asyncio.run(table_names(url))


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_whole_chain_on_empty_postgres_matches_models() -> None:
    name = f"leap_connect_migrations_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(name)
    try:
        runner.upgrade(url)
        runner.check(url)
        assert set(Base.metadata.tables) <= asyncio.run(table_names(url))
    finally:
        drop_postgres_database(name)
