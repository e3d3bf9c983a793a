"""Transactions on SQLite (development and the demo) commit and roll back as on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from leap_connect.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'transactions.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE readings (kwh INTEGER NOT NULL)"))
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM readings"))).scalar_one())


async def test_a_savepoint_that_is_the_first_write_rolls_back_with_its_transaction(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        async with connection.begin_nested():
            await connection.execute(text("INSERT INTO readings VALUES (1)"))
        async with connection.begin_nested():
            await connection.execute(text("INSERT INTO readings VALUES (2)"))
        assert await count(engine) == 0  # nothing is visible before the transaction commits
        await transaction.rollback()

    assert await count(engine) == 0


async def test_a_transaction_that_read_before_another_one_wrote_can_still_write(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as reader:
        transaction = await reader.begin()
        assert (await reader.execute(text("SELECT count(*) FROM readings"))).scalar_one() == 0
        async with engine.begin() as other:
            await other.execute(text("INSERT INTO readings VALUES (1)"))
        async with reader.begin_nested():
            await reader.execute(text("INSERT INTO readings VALUES (2)"))
        await reader.execute(text("INSERT INTO readings VALUES (3)"))
        await transaction.commit()

    assert await count(engine) == 3
