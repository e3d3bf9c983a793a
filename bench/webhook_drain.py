"""One worker drains a backlog of pending webhook deliveries to a local receiver.

    .venv/bin/python -m bench.webhook_drain [--deliveries 100000] [--endpoints 1]
        [--concurrency 10] [--uvloop]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/leap_connect_bench]

It creates the database afresh (dropping it if it exists), migrates it, queues the deliveries as
`record_event` leaves them (an event and a pending delivery each, and each endpoint's delivery job),
starts a receiver in its own process (uvicorn on 127.0.0.1, answering 200), then runs one `Worker`
in this process until every delivery has succeeded. Every few seconds it prints how many were
delivered, the rate over that interval, this process's resident memory and the machine's load
average; at the end, the overall rate, the worker process's CPU time per delivery (steadier than
the rate on a shared machine) and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from leap_connect.db import create_engine, create_sessionmaker, is_sqlite, transaction
from leap_connect.jobs.worker import Worker, in_process_worker
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.observability import configure_logging
from leap_connect.meters.schemas import MeterOut
from leap_connect.migrations import runner
from leap_connect.models import WebhookDelivery, WebhookEvent, utc_now
from leap_connect.organizations.service import create_organization
from leap_connect.runtime import build_runtime
from leap_connect.settings import Settings
from leap_connect.webhooks import service
from leap_connect.webhooks.events import schedule_deliveries
from leap_connect.webhooks.schemas import WebhookEndpointIn

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/leap_connect_bench"
CHUNK = 2000


@dataclass
class Sample:
    seconds: float
    delivered: int
    rate: float
    rss_mib: float
    load: float


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The partner's receiver, as cheap as an ASGI app gets: read the body, answer 200."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def run_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench.webhook_drain:receiver_app",
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
    )


@contextlib.contextmanager
def receiver_process(port: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_drain", "--receiver", str(port)]
    )
    url = f"http://127.0.0.1:{port}/webhooks"
    try:
        import httpx

        deadline = time.monotonic() + 60  # slow to start on a busy machine
        while True:
            try:
                httpx.post(url, content=b"{}")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def remove_sqlite_files(database: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if database:
            Path(database + suffix).unlink(missing_ok=True)


async def recreate_database(url: str) -> None:
    if is_sqlite(url):
        remove_sqlite_files(make_url(url).database or "")
        return
    name = make_url(url).database
    admin = create_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def queue_backlog(
    settings: Settings, receiver_url: str, deliveries: int, endpoints: int
) -> None:
    """`endpoints` endpoints and `deliveries` pending deliveries to them, as `record_event` leaves
    them: the rows inserted in bulk, the endpoints' delivery jobs queued by the same function."""
    engine = create_engine(settings.resolved_database_url)
    sessionmaker = create_sessionmaker(engine)
    encryptor = Encryptor(settings.encryption_keys.get_secret_value())
    async with transaction(sessionmaker) as session:
        organization, _ = await create_organization(
            session, encryptor, name="bench", display_name="Bench Energy"
        )
        endpoint_ids = []
        for _ in range(endpoints):
            endpoint, _ = await service.create_endpoint(
                session,
                encryptor,
                organization_id=organization.id,
                data=WebhookEndpointIn(url=receiver_url, event_types=["meter.updated"]),
                development=True,
            )
            endpoint_ids.append(endpoint.id)
    payload = _meter_payload()
    for start in range(0, deliveries, CHUNK):
        now = utc_now()
        events, rows = [], []
        for number in range(start, min(start + CHUNK, deliveries)):
            event_id = uuid.uuid4()
            events.append(
                {
                    "id": event_id,
                    "organization_id": organization.id,
                    "event_type": "meter.updated",
                    "payload": {**payload, "sequence": number},
                    "created_at": now,
                }
            )
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "endpoint_id": endpoint_ids[number % endpoints],
                    "event_id": event_id,
                    "status": "PENDING",
                    "attempt_count": 0,
                    "scheduled_retries": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        async with transaction(sessionmaker) as session:
            await session.execute(insert(WebhookEvent), events)
            await session.execute(insert(WebhookDelivery), rows)
            for endpoint_id in endpoint_ids:
                await schedule_deliveries(session, endpoint_id=endpoint_id, run_at=now)
    async with engine.connect() as connection:
        if not is_sqlite(settings.resolved_database_url):
            await connection.execute(text("ANALYZE"))
    await engine.dispose()


def _meter_payload() -> dict[str, Any]:
    """A realistic size: a meter as the API shows it (about 1.3 KB of JSON)."""
    example = MeterOut.model_config["json_schema_extra"]["example"]  # type: ignore[index]
    return {
        "webhook_event_type": "meter.updated",
        "meter": {**example, "meter_id": str(uuid.uuid4())},
    }


def rss_mib() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, concurrency: int) -> AsyncIterator[Worker]:
    runtime = build_runtime(settings)
    try:
        async with in_process_worker(
            runtime, lease=timedelta(seconds=60), poll_interval=0.05, batch_size=concurrency
        ) as worker:
            yield worker
    finally:
        await runtime.close()


async def drain(
    settings: Settings, total: int, concurrency: int, every: float
) -> tuple[list[Sample], float]:
    """The samples taken while the worker drained the backlog, and its CPU ms per delivery."""
    counter_engine = create_engine(settings.resolved_database_url)
    count_delivered = select(func.count()).where(WebhookDelivery.status == "SUCCEEDED")
    samples = [Sample(0.0, 0, 0.0, rss_mib(), os.getloadavg()[0])]
    started = time.perf_counter()
    cpu_started = os.times()
    async with running_worker(settings, concurrency):
        delivered = 0
        while delivered < total:
            await asyncio.sleep(every)
            async with counter_engine.connect() as connection:
                delivered = int((await connection.execute(count_delivered)).scalar_one())
            now = time.perf_counter() - started
            previous = samples[-1]
            rate = (delivered - previous.delivered) / (now - previous.seconds)
            samples.append(Sample(now, delivered, rate, rss_mib(), os.getloadavg()[0]))
            print(
                f"{now:7.1f} s  {delivered:7d} delivered  {rate:6.0f}/s  "
                f"RSS {samples[-1].rss_mib:6.1f} MiB  load {samples[-1].load:4.1f}",
                flush=True,
            )
    cpu_ended = os.times()
    user, system = cpu_ended.user - cpu_started.user, cpu_ended.system - cpu_started.system
    await counter_engine.dispose()
    return samples, (user + system) / total * 1000


def describe_machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), Path("/proc/cpuinfo").open() as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


async def main(arguments: argparse.Namespace) -> None:
    loop = "uvloop" if arguments.uvloop else "asyncio"
    print(
        f"machine: {describe_machine()}; {loop} event loop; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    settings = Settings(
        database_url=arguments.database_url,
        env="development",  # the receiver is on 127.0.0.1
        log_level=arguments.log_level,
    )
    configure_logging(settings.log_level)
    await recreate_database(settings.resolved_database_url)
    await asyncio.to_thread(runner.upgrade, settings.resolved_database_url)
    with receiver_process(free_port()) as url:
        queue_started = time.perf_counter()
        await queue_backlog(settings, url, arguments.deliveries, arguments.endpoints)
        queued_in = time.perf_counter() - queue_started
        print(f"queued {arguments.deliveries} deliveries in {queued_in:.1f} s", flush=True)
        samples, cpu_ms = await drain(
            settings, arguments.deliveries, arguments.concurrency, arguments.sample_seconds
        )
    elapsed = samples[-1].seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss = [sample.rss_mib for sample in samples[1:]]
    loads = [sample.load for sample in samples]
    total = arguments.deliveries
    print()
    print("| deliveries | seconds | per second | worker CPU per delivery | load average | RSS |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {total:,} | {elapsed:.1f} | {total / elapsed:.0f} | {cpu_ms:.2f} ms "
        f"| {min(loads):.1f}–{max(loads):.1f} "
        f"| {min(rss):.0f}–{max(rss):.0f} MiB (peak {peak:.0f} MiB) |"
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=1, help="deliveries spread over these")
    parser.add_argument("--concurrency", type=int, default=10, help="the worker's --concurrency")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run on uvloop (installed with uvicorn[standard]) instead of asyncio's own loop",
    )
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    parsed = parse_arguments()
    if parsed.receiver:
        run_receiver(parsed.receiver)
    elif parsed.uvloop:
        import uvloop

        uvloop.run(main(parsed))
    else:
        asyncio.run(main(parsed))
