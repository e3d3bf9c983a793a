"""Database engine and sessions for SQLite (development) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from leap_connect.settings import DatabasePoolSettings


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, pool: DatabasePoolSettings | None = None, **kwargs: Any
) -> AsyncEngine:
    """An engine for `url`; on PostgreSQL, with a connection pool sized by `pool`."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "savepoint", _begin_before_first_savepoint)
        return engine
    pool = pool or DatabasePoolSettings()
    kwargs.setdefault("pool_size", pool.size)
    kwargs.setdefault("max_overflow", pool.max_overflow)
    kwargs.setdefault("pool_timeout", pool.timeout_seconds)
    # No pre-ping (a round trip on every checkout): when PostgreSQL restarts, the first statement
    # on a dead connection raises a disconnect error, which invalidates the whole pool, and that
    # request is answered 503 (app.py); the requests after it open fresh connections.
    return create_async_engine(url, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_before_first_savepoint(connection: Connection, _name: str | None) -> None:
    """Open the transaction that a savepoint belongs to when it is the transaction's first write.

    The sqlite3 driver begins a transaction only before INSERT, UPDATE or DELETE: a SAVEPOINT
    that comes first would start one of its own, and its RELEASE would commit at once what the
    enclosing transaction should commit or roll back as a whole. IMMEDIATE takes the write lock
    now, as the driver's own begin before a write does in effect, so the writes that follow
    never find that another connection wrote since this transaction began.

    Beginning at the first statement instead (SQLAlchemy's recipe) would turn every read into a
    snapshot that a later write fails on once another connection has written (SQLITE_BUSY_SNAPSHOT,
    never retried), which happens whenever a request or a job reads, waits on a utility or a
    partner, then writes. Beginning at the first write keeps SQLite close to PostgreSQL's READ
    COMMITTED, which production runs.
    """
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None, "a connection that runs a savepoint is open"
    if not driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block ends and rolls back if it raises."""
    async with sessionmaker() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query (the readiness probe)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
