"""Shared pieces of the reliability tests: a database of their own and consistency checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.migrations import runner
from leap_connect.models import ConnectionReference, ConnectSession, Meter, UtilityAuthorization
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database
from tests.support.server import free_port


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
    # A grant may have ended since (REVOKED: the customer authorized again, which replaced it).
    granted = ("COMPLETED", "REVOKED")
    completed_sessions = {a.connect_session_id for a in attempts if a.status in granted}
    for session in sessions:
        if session.status == "COMPLETED":
            assert session.completed_at is not None, session.id
            assert session.id in completed_sessions, session.id


def log_tail(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(directory.glob("*.log")))


PG_BIN = Path(os.environ.get("LEAP_CONNECT_PG_BIN", "/usr/lib/postgresql/15/bin"))


class Cluster:
    """A throwaway PostgreSQL cluster on a free port, run as the `postgres` user when root."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.directory.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        log = str(self.directory / "postgres.log")
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-o", options, "-l", log)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN}")
    started = Cluster(Path(f"/tmp/leap-connect-pg-{os.getpid()}-{free_port()}"))
    started.init()
    started.start()
    try:
        yield started
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            started.stop()
        shutil.rmtree(started.directory, ignore_errors=True)
