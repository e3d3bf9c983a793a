"""PostgreSQL stopped and started under the load test's customers: 503s, recovery, nothing torn.

Requests while it is down get 503 with Retry-After (never 500), the server serves again by itself
within 5 s of PostgreSQL coming back, and every stored record is one a customer's journey explains.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from leap_connect.migrations import runner
from tests.conftest import _admin_execute
from tests.slow.conftest import Cluster, assert_consistent, env_int, log_tail, stored, until
from tests.slow.customers import Customers, assert_accounted_for
from tests.support.journeys import seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server

pytestmark = pytest.mark.slow

# The load test's customers (LEAP_CONNECT_SLOW_LOAD_CUSTOMERS) keep going through the restart.
CUSTOMERS = env_int("LEAP_CONNECT_SLOW_LOAD_CUSTOMERS", 200)


# Steps that read or write the database on every request (the landing page may come from a cache).
NEEDS_DATABASE = ("choose utility", "callback", "session page", "finish")


def served_after(customers: Customers, moment: float) -> list[float]:
    """When answers came to requests sent after `moment` that needed the database and succeeded."""
    return [
        seen.at
        for record in customers.journeys
        for seen in record.seen
        if seen.status < 400 and seen.step in NEEDS_DATABASE and seen.at - seen.seconds > moment
    ]


async def test_database_restart_under_load_answers_503_recovers_and_loses_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    await _admin_execute(cluster.url("postgres"), "CREATE DATABASE leap")
    url = cluster.url("leap")
    await asyncio.to_thread(runner.upgrade, url)
    await seed(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        sandbox_process(tmp_path, base) as sandbox,
        leap_connect_server(
            url, tmp_path, {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": base}, port=port
        ),
    ):
        customers = Customers(base, sandbox)
        stop = asyncio.Event()
        started = time.monotonic()
        load = asyncio.create_task(customers.run(CUSTOMERS, lambda: not stop.is_set()))
        await until(lambda: len(customers.completed) >= 10, 300, log_tail(tmp_path))

        await asyncio.to_thread(cluster.stop)
        stopped = time.monotonic()
        await asyncio.sleep(3)  # customers keep coming meanwhile
        await asyncio.to_thread(cluster.start)
        back = time.monotonic()
        await until(lambda: bool(served_after(customers, back)), 60, "not served again")
        before_restart = len(customers.completed)
        await until(lambda: len(customers.completed) >= before_restart + 10, 300, "no journeys")
        stop.set()
        await load
    elapsed = time.monotonic() - started

    print(f"\n{CUSTOMERS} customers, PostgreSQL restarted: {customers.summary(elapsed)}")
    # Every answer a customer had was a page of the journey or a 503 with Retry-After: no 500.
    assert customers.failures == []
    outage = Counter(
        (seen.status, seen.retry_after)
        for record in customers.journeys
        for seen in record.seen
        if stopped < seen.at - seen.seconds and seen.at < back
    )
    # Answered 503 with Retry-After, unless served without the database (a cached landing page).
    served_anyway = [answer[0] for answer in outage if answer != (503, "5")]
    assert outage[(503, "5")] and all(status < 400 for status in served_anyway), outage
    recovered_in = min(served_after(customers, back)) - back
    interrupted = Counter(r.interrupted_at for r in customers.journeys if r.interrupted_at)
    print(f"answers to requests sent while PostgreSQL was down: {dict(outage)}")
    print(f"served again {recovered_in:.2f} s after PostgreSQL was back")
    print(f"journeys interrupted by a 503, by step: {dict(interrupted)}")
    assert recovered_in < 5

    sessions, attempts, meters, references = await stored(url)
    assert_consistent(sessions, attempts, meters, references)
    assert_accounted_for(customers, sessions, attempts, meters, references)
