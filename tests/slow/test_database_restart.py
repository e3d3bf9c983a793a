"""PostgreSQL stopped and started under traffic: 503s, recovery by itself, nothing torn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from leap_connect.migrations import runner
from tests.conftest import _admin_execute
from tests.functional.test_external_utility import pge_variables, sandbox_process
from tests.slow.conftest import assert_consistent, journey, log_tail, seed, stored
from tests.support.server import free_port, leap_connect_server

pytestmark = pytest.mark.slow

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


async def test_database_outage_answers_503_then_recovers_without_torn_records(
    cluster: Cluster, tmp_path: Path
) -> None:
    await _admin_execute(cluster.url("postgres"), "CREATE DATABASE leap")
    url = cluster.url("leap")
    await asyncio.to_thread(runner.upgrade, url)
    await seed(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    statuses: list[tuple[int, str | None]] = []
    stop_traffic = asyncio.Event()
    completed = 0

    async def customer_loop(number: int) -> None:
        nonlocal completed
        round_ = 0
        while not stop_traffic.is_set():
            round_ += 1
            async with httpx.AsyncClient(
                base_url=base, timeout=30, event_hooks={"response": [record]}
            ) as client:
                try:
                    await journey(client, sandbox, f"c{number}-{round_}")
                    completed += 1
                except AssertionError:
                    await asyncio.sleep(0.1)  # a page without the next form: the outage

    async def probe(client: httpx.AsyncClient) -> httpx.Response:
        response = await client.get("/acme/ca-homes?requestedUtilities=pge&refId=probe")
        statuses.append((response.status_code, response.headers.get("retry-after")))
        return response

    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        if str(response.url).startswith(base):
            seen.append(response)

    with (
        sandbox_process(tmp_path, base) as sandbox,
        leap_connect_server(
            url, tmp_path, {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": base}, port=port
        ),
    ):
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            if True:
                customers = [asyncio.create_task(customer_loop(n)) for n in range(4)]
                await until(lambda: completed > 0, 30, log_tail(tmp_path))
                assert (await probe(client)).status_code == 200

                await asyncio.to_thread(cluster.stop)
                during = [await probe(client) for _ in range(5)]
                await asyncio.sleep(1)
                during += [await probe(client) for _ in range(5)]

                await asyncio.to_thread(cluster.start)
                back = time.monotonic()
                while (await probe(client)).status_code != 200:
                    assert time.monotonic() - back < 5, statuses[-5:]
                    await asyncio.sleep(0.1)
                recovered_in = time.monotonic() - back
                after_restart = completed
                await until(lambda: completed > after_restart + 1, 30, "journeys after restart")
                stop_traffic.set()
                await asyncio.gather(*customers)

    assert {r.status_code for r in during} == {503}, [r.status_code for r in during]
    assert all(r.headers.get("retry-after") for r in during)
    assert recovered_in < 5
    server_errors = [(r.status_code, str(r.url)) for r in seen if r.status_code >= 500]
    assert all(status == 503 for status, _ in server_errors), server_errors
    assert all(r.headers.get("retry-after") for r in seen if r.status_code == 503)

    sessions, attempts, meters, references = await stored(url)
    assert_consistent(sessions, attempts, meters, references)
    finished = {s.partner_reference for s in sessions if s.status == "COMPLETED"}
    assert len(finished) == completed
