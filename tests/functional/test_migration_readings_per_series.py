"""Migration 0011 moves the readings kept before it into the delivered series of their length."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from leap_connect.db import create_engine
from leap_connect.migrations import runner
from leap_connect.models.base import UTCDateTime
from tests.conftest import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'readings.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    name = f"leap_connect_readings_{uuid.uuid4().hex[:8]}"
    try:
        yield create_postgres_database(name)
    finally:
        drop_postgres_database(name)


METER = uuid.uuid4()
NY_METER = uuid.uuid4()
METERS = sa.table(
    "meters",
    *(sa.column(name, sa.Uuid()) for name in ("id", "organization_id", "utility_authorization_id")),
    *(
        sa.column(name, sa.String())
        for name in (
            "utility_id",
            "utility_meter_id",
            "electric_service_account_number",
            "service_point_id",
            "transmission_region",
            "customer_classification",
            "created_by",
        )
    ),
    sa.column("utility_is_required", sa.Boolean()),
    sa.column("is_archived", sa.Boolean()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
OLD_READINGS = sa.table(
    "meter_intervals",
    sa.column("meter_id", sa.Uuid()),
    sa.column("interval_start", UTCDateTime()),
    sa.column("duration_seconds", sa.Integer()),
    sa.column("kwh", sa.Double()),
)
DAYS = sa.table(
    "meter_interval_days",
    sa.column("meter_id", sa.Uuid()),
    sa.column("day", sa.Date()),
    sa.column("reading_count", sa.Integer()),
    sa.column("fetched_at", UTCDateTime()),
)
STARTS = [datetime(2026, 3, 1, hour, tzinfo=UTC) for hour in (0, 1)]


async def _store_old_readings(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        # A meter and its readings alone: its authorization and session are not what is tested.
        if connection.dialect.name == "sqlite":
            await connection.execute(text("PRAGMA foreign_keys=OFF"))
        else:
            await connection.execute(text("SET session_replication_role = replica"))
        now = datetime(2026, 3, 5, tzinfo=UTC)
        await connection.execute(
            sa.insert(METERS),
            [
                {
                    "id": meter_id,
                    "organization_id": uuid.uuid4(),
                    "utility_id": utility_id,
                    "utility_meter_id": "7100001",
                    "electric_service_account_number": f"account-of-{utility_id}",
                    "service_point_id": f"said-of-{utility_id}",
                    "utility_authorization_id": uuid.uuid4(),
                    "transmission_region": "CAISO",
                    "customer_classification": "RESIDENTIAL",
                    "utility_is_required": False,
                    "is_archived": False,
                    "created_by": "UTILITY",
                    "created_at": now,
                    "updated_at": now,
                }
                for meter_id, utility_id in ((METER, "pge"), (NY_METER, "cecony-utilityapi"))
            ],
        )
        await connection.execute(
            sa.insert(OLD_READINGS),
            [
                {"meter_id": METER, "interval_start": start, "duration_seconds": 3600, "kwh": kwh}
                for start, kwh in zip(STARTS, (0.5, 0.25), strict=True)
            ],
        )
        await connection.execute(
            sa.insert(DAYS),
            {
                "meter_id": METER,
                "day": date(2026, 3, 1),
                "reading_count": 2,
                "fetched_at": datetime(2026, 3, 5, tzinfo=UTC),
            },
        )
    await engine.dispose()


async def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = [tuple(row) for row in await connection.execute(text(query))]
    await engine.dispose()
    return rows


def test_readings_become_the_delivered_series_and_their_days_are_asked_for_again(
    database_url: str,
) -> None:
    runner.upgrade(database_url, "0010")
    asyncio.run(_store_old_readings(database_url))

    runner.upgrade(database_url, "0011")

    moved = asyncio.run(
        _rows(
            database_url,
            "SELECT direction, interval_seconds, duration_seconds, value, unit"
            " FROM meter_interval_readings ORDER BY interval_start",
        )
    )
    assert moved == [("delivered", 3600, 3600, 0.5, "kWh"), ("delivered", 3600, 3600, 0.25, "kWh")]
    # A net-metered meter's old readings may be received energy: the utility is asked again.
    assert asyncio.run(_rows(database_url, "SELECT day FROM meter_interval_days")) == []
    # UtilityAPI never collected the history of meters recorded before: they start COLLECTING.
    statuses = asyncio.run(_rows(database_url, "SELECT utility_id, data_status FROM meters"))
    assert sorted(statuses) == [("cecony-utilityapi", "COLLECTING"), ("pge", "READY")]
    # The account number moves to its own column; the SAID is UtilityAPI's service identifier.
    numbers = asyncio.run(
        _rows(
            database_url,
            "SELECT utility_id, electric_service_account_number, customer_account_number"
            " FROM meters",
        )
    )
    assert sorted(numbers) == [
        ("cecony-utilityapi", "said-of-cecony-utilityapi", "account-of-cecony-utilityapi"),
        ("pge", None, "account-of-pge"),
    ]
