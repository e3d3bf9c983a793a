"""Meter search with 1,000,000 meters in PostgreSQL, through the real HTTP app and straight in SQL.

    .venv/bin/python -m bench.meter_search [--meters 1000000] [--requests 1000] [--reuse]
        [--no-scan]

(`BENCH_ADMIN_DSN` and `BENCH_DATABASE` choose the server and the database it drops and creates.)

Seeds a fresh database (COPY through asyncpg), starts `leap-connect serve` (uvicorn, one process)
on it, and times from httpx on the same machine, one request at a time over a kept-alive
connection:

- `POST /v2/meters/search` by one `partner_reference`, and by one `connection_reference_id`;
- the HTTP floor: the same requests to `bench.bare_search` (a bare Starlette app under the same
  uvicorn running the same statement with asyncpg and answering the same bytes, checked);
- the query floor: the same two statements, exactly as the repository sends them, run directly
  with asyncpg (prepared statements) in this process;
- a full scan by pages of 500, checking every meter is read exactly once.

Targets: median < 10 ms and p99 < 25 ms for both searches (issue 5); within 3x of the direct query
(issue 9). Prints a Markdown report with the ratios to both floors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        ms = sorted(s * 1000 for s in self.seconds)
        return ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]

    def row(self) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        p99 = self.p99_ms
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
def server(log_path: Path, command: list[str], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`command` serving on `env["PORT"]` until the block ends: its base URL and process ID."""
    base_url = f"http://127.0.0.1:{env['PORT']}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", env["PORT"]],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"{base_url}/healthz", process)
            yield base_url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


def leap_connect_serve(log_path: Path) -> AbstractContextManager[tuple[str, int]]:
    port = str(free_port())
    env = {
        "PORT": port,
        "LEAP_CONNECT_DATABASE_URL": database_url(),
        "LEAP_CONNECT_BASE_URL": f"http://127.0.0.1:{port}",
        "LEAP_CONNECT_API_RATE_LIMIT": "1000000/minute",
    }
    return server(log_path, [CLI, "serve"], env)


def bare_search_serve(
    log_path: Path, statements: dict[str, EmittedSql]
) -> AbstractContextManager[tuple[str, int]]:
    """`bench.bare_search` under uvicorn, with the options `leap-connect serve` gives it."""
    config = log_path.with_suffix(".json")
    config.write_text(
        json.dumps(
            {
                "dsn": database_url("postgresql"),
                **{
                    field: {"text": sql.text, "parameters": list(sql.parameters)}
                    for field, sql in statements.items()
                },
            },
            default=str,
        )
    )
    command = [sys.executable, "-m", "uvicorn", "bench.bare_search:app", "--proxy-headers"]
    env = {"PORT": str(free_port()), "BARE_SEARCH_FILE": str(config)}
    return server(log_path, [*command, "--no-access-log"], env)


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


FILTERS = ("partner_references", "connection_reference_ids")


async def statements(organization_id: uuid.UUID) -> dict[str, EmittedSql]:
    """The statement the repository sends for a search by one value of each filter."""
    return {
        "partner_references": await emitted_sql(
            organization_id, MeterFilters(partner_references=[SAMPLE])
        ),
        "connection_reference_ids": await emitted_sql(
            organization_id, MeterFilters(connection_reference_ids=[SAMPLE])
        ),
    }


async def measure(
    serve: tuple[str, int],
    bare: tuple[str, int],
    token: str,
    sql: dict[str, EmittedSql],
    meters: int,
    requests: int,
    scan_all: bool,
) -> tuple[list[Timings], dict[str, Any]]:
    rng = random.Random(5)
    refs = [f"cust-{rng.randrange(meters)}" for _ in range(requests + 100)]
    results: list[Timings] = []

    def reference(field: str, n: int) -> str:
        # A different reference for each filter, so neither finds pages the other cached.
        return refs[n] if field == "partner_references" else refs[-n - 1]

    async with (
        httpx.AsyncClient(
            base_url=serve[0], headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http,
        httpx.AsyncClient(base_url=bare[0], timeout=60) as bare_http,
    ):

        async def search(client: httpx.AsyncClient, body: dict[str, Any]) -> bytes:
            response = await client.post("/v2/meters/search", json=body)
            response.raise_for_status()
            return response.content

        def searcher(client: httpx.AsyncClient, field: str) -> Callable[[int], Awaitable[None]]:
            async def call(n: int) -> None:
                found = json.loads(await search(client, {field: [reference(field, n)]}))
                [meter] = found["meters"]
                if field == "partner_references":
                    assert meter["partner_reference"] == reference(field, n)
                else:
                    assert meter["connection_references"] == [reference(field, n)]

            return call

        for field in FILTERS:
            sample = {field: [reference(field, 0)]}
            same = await search(http, sample) == await search(bare_http, sample)
            assert same, f"the bare app answers other bytes than the server for {sample}"

        name = {
            "partner_references": "partner_reference",
            "connection_reference_ids": "connection_reference_id",
        }
        for field in FILTERS:
            results.append(
                await timed(
                    f"HTTP: by {name[field]}", requests, searcher(http, field), cpu_of=serve[1]
                )
            )
            results.append(
                await timed(
                    f"HTTP floor (bare app): by {name[field]}",
                    requests,
                    searcher(bare_http, field),
                    cpu_of=bare[1],
                )
            )

        connection = await asyncpg.connect(database_url("postgresql"))
        for field in FILTERS:
            prepared = await connection.prepare(sql[field].text)

            async def direct(n: int, field: str = field, prepared: Any = prepared) -> None:
                rows = await prepared.fetch(*sql[field].arguments(reference(field, n)))
                assert len(rows) == 1

            results.append(
                await timed(f"query floor (asyncpg): by {name[field]}", requests, direct)
            )
        connection_sql = sql["connection_reference_ids"]
        plan = await connection.fetch(
            "EXPLAIN ANALYZE " + connection_sql.text, *connection_sql.arguments(refs[0])
        )
        await connection.close()
        scan: dict[str, Any] = {"plan": "\n".join(row[0] for row in plan)}

        if not scan_all:
            return results, scan
        seen: set[str] = set()
        returned = 0
        pages: list[float] = []
        token_: str | None = None
        started = time.perf_counter()
        cpu_before = cpu_seconds(serve[1])
        while True:
            page_started = time.perf_counter()
            found = json.loads(await search(http, {"page_size": PAGE, "page_token": token_}))
            pages.append(time.perf_counter() - page_started)
            seen.update(meter["meter_id"] for meter in found["meters"])
            returned += len(found["meters"])
            token_ = found["next_page_token"]
            if token_ is None:
                break
        scan |= {
            "pages": len(pages),
            "meters": len(seen),
            "seconds": time.perf_counter() - started,
            "every_meter_once": returned == len(seen) == meters,
            "page": Timings(
                f"HTTP: full scan, one page of {PAGE}", pages, cpu_seconds(serve[1]) - cpu_before
            ),
        }
    return results, scan


def ratio_rows(results: list[Timings]) -> list[str]:
    by_name = {timing.name: timing for timing in results}
    rows = []
    for name in ("partner_reference", "connection_reference_id"):
        ours = by_name[f"HTTP: by {name}"]
        http = by_name[f"HTTP floor (bare app): by {name}"]
        query = by_name[f"query floor (asyncpg): by {name}"]
        rows.append(
            f"| {name} | {ours.median_ms / http.median_ms:.1f}x | {ours.p99_ms / http.p99_ms:.1f}x "
            f"| {ours.median_ms / query.median_ms:.1f}x | {ours.p99_ms / query.p99_ms:.1f}x |"
        )
    return rows


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
        "Ratios (ours / floor):",
        "",
        "| search by | median / HTTP floor | p99 / HTTP floor | median / query floor "
        "| p99 / query floor |",
        "|---|---|---|---|---|",
        *ratio_rows(results),
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
    sql = asyncio.run(statements(organization_id))
    print("measuring…", file=sys.stderr)
    load_before = os.getloadavg()[0]
    with (
        leap_connect_serve(arguments.log) as serve,
        bare_search_serve(arguments.log.with_name("bench-bare-search.log"), sql) as bare,
    ):
        results, scan = asyncio.run(
            measure(
                serve,
                bare,
                token,
                sql,
                arguments.meters,
                arguments.requests,
                scan_all=not arguments.no_scan,
            )
        )
    scan["load"] = (load_before, os.getloadavg()[0])
    print(report(results, scan, arguments.meters, seed_seconds))


if __name__ == "__main__":
    main()
