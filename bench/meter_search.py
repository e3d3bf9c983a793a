"""Meter search with 1,000,000 meters in PostgreSQL, through the real HTTP app and straight in SQL.

    .venv/bin/python -m bench.meter_search [--meters 1000000] [--requests 1000] [--reuse]
        [--no-scan]

(`BENCH_ADMIN_DSN` and `BENCH_DATABASE` choose the server and the database it drops and creates.)

Seeds a fresh database (COPY through asyncpg), starts `leap-connect serve` (uvicorn, one process)
on it, and times from httpx on the same machine, one request at a time over a kept-alive
connection:

- `POST /v2/meters/search` by one `partner_reference`, and by one `connection_reference_id`;
- the same two meter queries, exactly as the repository sends them, run directly with asyncpg
  (prepared statements): the floor;
- a full scan by pages of 500, checking every meter is read exactly once.

Targets (issue 5): median < 10 ms and p99 < 25 ms for both searches. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event, func, select
from tests.support.server import free_port, wait_until_up

from leap_connect.connect.flows import create_flow
from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.meters.repository import MeterFilters, search_meters
from leap_connect.migrations import runner
from leap_connect.models import ConnectSession, Meter, Organization, UtilityAuthorization
from leap_connect.organizations.service import create_api_key, create_organization
from leap_connect.settings import Settings

ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "leap_connect_bench_meters")
CLI = str(Path(sys.executable).with_name("leap-connect"))
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PAGE = 500


@dataclass
class Timings:
    name: str
    seconds: list[float]
    server_cpu_seconds: float | None = None

    def row(self) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
        cpu = (
            f"{self.server_cpu_seconds / len(ms) * 1000:.2f}"
            if self.server_cpu_seconds is not None
            else "–"
        )
        return (
            f"| {self.name} | {len(ms)} | {statistics.median(ms):.2f} | {p99:.2f} | "
            f"{statistics.fmean(ms):.2f} | {ms[-1]:.2f} | {cpu} |"
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_url(driver: str = "postgresql+asyncpg") -> str:
    return ADMIN_DSN.replace("postgresql", driver, 1).rsplit("/", 1)[0] + f"/{DATABASE}"


async def create_database() -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()


async def seed(meters: int) -> tuple[uuid.UUID, str]:
    """An organization with `meters` meters (one reference and one connection reference each),
    plus a second organization with a tenth as many under the same references, so every query
    must scope by organization. Returns the first organization and an API key of it."""
    settings = Settings(database_url=database_url())
    engine = create_engine(settings.resolved_database_url)
    encryptor = Encryptor(settings.encryption_keys.get_secret_value())
    authorizations: list[tuple[uuid.UUID, uuid.UUID, int]] = []
    async with create_sessionmaker(engine)() as session, session.begin():
        for name, count in (("bench", meters), ("other", meters // 10)):
            organization, _ = await create_organization(
                session, encryptor, name=name, display_name=name.title()
            )
            flow = await create_flow(
                session,
                organization=organization,
                url_friendly_title="homes",
                region="CAISO",
                utility_ids=["pge"],
                customer_types=["residential"],
                thank_you_url="https://bench.example/thanks",
                development=True,
            )
            now = datetime.now(UTC)
            connect_session = ConnectSession(
                organization_id=organization.id,
                flow_id=flow.id,
                requested_utility_ids=["pge"],
                customer_type="residential",
                status="COMPLETED",
                browser_binding_hmac="",
                last_interaction_at=now,
            )
            session.add(connect_session)
            await session.flush()
            authorization = UtilityAuthorization(
                organization_id=organization.id,
                connect_session_id=connect_session.id,
                utility_id="pge",
                status="COMPLETED",
                state_hmac=uuid.uuid4().hex,
                state_expires_at=now,
                authorized_at=now,
                scope_granted="FB=1_3_4_5_13_14_39",
            )
            session.add(authorization)
            await session.flush()
            authorizations.append((organization.id, authorization.id, count))
        measured = authorizations[0][0]
        issued = await create_api_key(
            session,
            settings.secret_key.get_secret_value(),
            organization=await session.get_one(Organization, measured),
            scopes=["meters:read"],
        )
    await engine.dispose()

    connection = await asyncpg.connect(database_url("postgresql"))
    for organization_id, authorization_id, count in authorizations:
        await _copy_meters(connection, organization_id, authorization_id, count)
    await connection.execute("VACUUM ANALYZE")
    await connection.close()
    return measured, issued.token


async def _copy_meters(
    connection: asyncpg.Connection,
    organization_id: uuid.UUID,
    authorization_id: uuid.UUID,
    count: int,
) -> None:
    ids = [uuid.uuid4() for _ in range(count)]
    created = [T0 + timedelta(seconds=n) for n in range(count)]
    started = time.perf_counter()
    await connection.copy_records_to_table(
        "meters",
        columns=[
            "id",
            "organization_id",
            "utility_id",
            "utility_meter_id",
            "utility_authorization_id",
            "partner_reference",
            "transmission_region",
            "customer_classification",
            "utility_is_required",
            "service_point_id",
            "end_customer_name",
            "city",
            "state_or_province_code",
            "postal_code",
            "country_code",
            "is_archived",
            "created_by",
            "created_at",
            "updated_at",
        ],
        records=(
            (
                ids[n],
                organization_id,
                "pge",
                f"up-{organization_id.hex[:8]}-{n}",
                authorization_id,
                f"cust-{n}",
                "CAISO",
                "RESIDENTIAL" if n % 3 else "COMMERCIAL",
                True,
                f"sp-{n}",
                f"Customer {n}",
                "Oakland",
                "CA",
                "94612",
                "US",
                n % 50 == 0,
                "UTILITY",
                created[n],
                created[n],
            )
            for n in range(count)
        ),
    )
    await connection.copy_records_to_table(
        "connection_references",
        columns=["meter_id", "reference", "organization_id", "created_at"],
        records=((ids[n], f"cust-{n}", organization_id, created[n]) for n in range(count)),
    )
    print(f"  copied {count:,} meters in {time.perf_counter() - started:.1f} s", file=sys.stderr)


SAMPLE = "cust-sample"


@dataclass(frozen=True)
class EmittedSql:
    """A statement exactly as the repository sends it, with `$n` parameters."""

    text: str
    parameters: tuple[Any, ...]

    def arguments(self, reference: str) -> tuple[Any, ...]:
        return tuple(reference if value == SAMPLE else value for value in self.parameters)


async def emitted_sql(organization_id: uuid.UUID, filters: MeterFilters) -> EmittedSql:
    """Run the repository's search once and keep the SQL it sent: the floor is the same query."""
    engine = create_engine(database_url())
    captured: list[EmittedSql] = []

    def capture(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, _many = args
        captured.append(EmittedSql(statement, tuple(parameters)))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    async with create_sessionmaker(engine)() as session:
        await search_meters(session, organization_id, filters, after=None, limit=PAGE + 1)
    await engine.dispose()
    [statement] = [sql for sql in captured if "FROM meters" in sql.text]
    return statement


@contextmanager
def server(log_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LEAP_CONNECT_DATABASE_URL": database_url(),
        "LEAP_CONNECT_BASE_URL": base_url,
        "LEAP_CONNECT_API_RATE_LIMIT": "1000000/minute",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"{base_url}/healthz", process)
            yield base_url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


async def timed(
    name: str,
    calls: int,
    call: Callable[[int], Awaitable[Any]],
    warmup: int = 50,
    cpu_of: int | None = None,
) -> Timings:
    for n in range(warmup):
        await call(n)
    seconds = []
    cpu_before = cpu_seconds(cpu_of) if cpu_of else 0.0
    for n in range(calls):
        started = time.perf_counter()
        await call(n)
        seconds.append(time.perf_counter() - started)
    cpu = cpu_seconds(cpu_of) - cpu_before if cpu_of else None
    return Timings(name, seconds, cpu)


async def measure(
    base_url: str,
    pid: int,
    token: str,
    organization_id: uuid.UUID,
    meters: int,
    requests: int,
    scan_all: bool,
) -> tuple[list[Timings], dict[str, Any]]:
    rng = random.Random(5)
    refs = [f"cust-{rng.randrange(meters)}" for _ in range(requests + 100)]
    headers = {"Authorization": f"Bearer {token}"}
    results: list[Timings] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:

        async def search(body: dict[str, Any]) -> dict[str, Any]:
            response = await http.post("/v2/meters/search", json=body)
            response.raise_for_status()
            found: dict[str, Any] = response.json()
            return found

        async def by_partner_reference(n: int) -> None:
            found = await search({"partner_references": [refs[n]]})
            assert [m["partner_reference"] for m in found["meters"]] == [refs[n]]

        async def by_connection_reference(n: int) -> None:
            found = await search({"connection_reference_ids": [refs[-n - 1]]})
            assert found["meters"][0]["connection_references"] == [refs[-n - 1]]

        results.append(
            await timed("HTTP: by partner_reference", requests, by_partner_reference, cpu_of=pid)
        )
        results.append(
            await timed(
                "HTTP: by connection_reference_id", requests, by_connection_reference, cpu_of=pid
            )
        )

        by_reference_sql = await emitted_sql(
            organization_id, MeterFilters(partner_references=[SAMPLE])
        )
        by_connection_sql = await emitted_sql(
            organization_id, MeterFilters(connection_reference_ids=[SAMPLE])
        )
        connection = await asyncpg.connect(database_url("postgresql"))
        by_reference = await connection.prepare(by_reference_sql.text)
        by_connection = await connection.prepare(by_connection_sql.text)

        async def sql_partner_reference(n: int) -> None:
            rows = await by_reference.fetch(*by_reference_sql.arguments(refs[n]))
            assert len(rows) == 1

        async def sql_connection_reference(n: int) -> None:
            rows = await by_connection.fetch(*by_connection_sql.arguments(refs[-n - 1]))
            assert len(rows) == 1

        results.append(
            await timed("asyncpg: by partner_reference", requests, sql_partner_reference)
        )
        results.append(
            await timed("asyncpg: by connection_reference_id", requests, sql_connection_reference)
        )
        plan = await connection.fetch(
            "EXPLAIN ANALYZE " + by_connection_sql.text, *by_connection_sql.arguments(refs[0])
        )
        await connection.close()

        if not scan_all:
            return results, {"plan": "\n".join(row[0] for row in plan)}
        seen: set[str] = set()
        returned = 0
        pages: list[float] = []
        token_: str | None = None
        started = time.perf_counter()
        cpu_before = cpu_seconds(pid)
        while True:
            page_started = time.perf_counter()
            found = await search({"page_size": PAGE, "page_token": token_})
            pages.append(time.perf_counter() - page_started)
            seen.update(meter["meter_id"] for meter in found["meters"])
            returned += len(found["meters"])
            token_ = found["next_page_token"]
            if token_ is None:
                break
        scan = {
            "pages": len(pages),
            "meters": len(seen),
            "seconds": time.perf_counter() - started,
            "every_meter_once": returned == len(seen) == meters,
            "page": Timings(
                f"HTTP: full scan, one page of {PAGE}", pages, cpu_seconds(pid) - cpu_before
            ),
            "plan": "\n".join(row[0] for row in plan),
        }
    return results, scan


def report(results: list[Timings], scan: dict[str, Any], meters: int, seed_seconds: float) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"PostgreSQL at {ADMIN_DSN.rsplit('@', 1)[-1].rsplit('/', 1)[0]}.",
        f"Data: {meters:,} meters in the measured organization (+{meters // 10:,} in another)"
        + (
            f", seeded in {seed_seconds:.0f} s." if seed_seconds else " (seeded by an earlier run)."
        ),
        "",
        f"Load average (1 min) when measuring began: {scan['load'][0]:.1f}; when it ended: "
        f"{scan['load'][1]:.1f} (other processes share the 2 cores).",
        "",
        "| what | calls | median ms | p99 ms | mean ms | max ms | server CPU ms per call |",
        "|---|---|---|---|---|---|---|",
        *(timing.row() for timing in results),
        *([scan["page"].row()] if "page" in scan else []),
        "",
        (
            f"Full scan: {scan['pages']:,} pages, {scan['meters']:,} distinct meters in "
            f"{scan['seconds']:.1f} s; every meter exactly once: {scan['every_meter_once']}."
            if "page" in scan
            else "Full scan: skipped (--no-scan)."
        ),
        "",
        "Plan of the connection_reference_id query:",
        "",
        *("    " + line for line in scan["plan"].splitlines()),
    ]
    return "\n".join(lines)


async def prepare(meters: int) -> tuple[uuid.UUID, str, float]:
    started = time.perf_counter()
    await create_database()
    await asyncio.to_thread(runner.upgrade, database_url())
    organization_id, token = await seed(meters)
    return organization_id, token, time.perf_counter() - started


async def reuse() -> tuple[uuid.UUID, str, int]:
    """The database an earlier run seeded, with a new API key: measure again without seeding."""
    settings = Settings(database_url=database_url())
    engine = create_engine(settings.resolved_database_url)
    async with create_sessionmaker(engine)() as session, session.begin():
        organization = (
            await session.execute(select(Organization).where(Organization.name == "bench"))
        ).scalar_one()
        meters = await session.scalar(
            select(func.count()).select_from(Meter).where(Meter.organization_id == organization.id)
        )
        issued = await create_api_key(
            session,
            settings.secret_key.get_secret_value(),
            organization=organization,
            scopes=["meters:read"],
        )
    await engine.dispose()
    return organization.id, issued.token, int(meters or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--log", type=Path, default=Path("bench-serve.log"))
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database an earlier run seeded"
    )
    parser.add_argument("--no-scan", action="store_true", help="skip the full scan")
    arguments = parser.parse_args()
    if arguments.reuse:
        organization_id, token, arguments.meters = asyncio.run(reuse())
        seed_seconds = 0.0
    else:
        print(f"seeding {arguments.meters:,} meters…", file=sys.stderr)
        organization_id, token, seed_seconds = asyncio.run(prepare(arguments.meters))
    print("measuring…", file=sys.stderr)
    load_before = os.getloadavg()[0]
    with server(arguments.log) as (base_url, pid):
        results, scan = asyncio.run(
            measure(
                base_url,
                pid,
                token,
                organization_id,
                arguments.meters,
                arguments.requests,
                scan_all=not arguments.no_scan,
            )
        )
    scan["load"] = (load_before, os.getloadavg()[0])
    print(report(results, scan, arguments.meters, seed_seconds))


if __name__ == "__main__":
    main()
