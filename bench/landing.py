"""Landing page throughput: `leap-connect serve` against a bare Starlette app with the same page.

    .venv/bin/python -m bench.landing [--seconds 15] [--connections 50]

Both run under uvicorn with one process, on this machine, loaded by `wrk` (Debian package) with the
same connection count. The landing page validates the link (organization, flow, requestedUtilities,
refId) against PostgreSQL and renders the partner's page; the bare app returns the saved page. The
ratio is what we quote (target: at least 50 %). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from tests.support.factories import create_partner
from tests.support.server import CLI, free_port, wait_until_up

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.migrations import runner
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "leap_connect_bench_landing"
PATH = "/acme/ca-homes?requestedUtilities=pge,sce&refId=cust-123"


async def prepare_database() -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    await admin.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    await asyncio.to_thread(runner.upgrade, url)
    engine = create_engine(url)
    await create_partner((create_sessionmaker(engine), Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
    await engine.dispose()
    return url


def wrk(url: str, seconds: int, connections: int) -> float:
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"{url} answered {non_2xx.group(1)} errors:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def serve(args: list[str], env: dict[str, str], health: str, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    wait_until_up(health, process)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    options = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    url = asyncio.run(prepare_database())
    folder = Path(tempfile.mkdtemp(prefix="bench-landing-"))

    port = free_port()
    app = serve(
        [CLI, "serve", "--port", str(port)],
        {
            "LEAP_CONNECT_DATABASE_URL": url,
            "LEAP_CONNECT_BASE_URL": f"http://127.0.0.1:{port}",
            "LEAP_CONNECT_LOG_LEVEL": "WARNING",
        },
        f"http://127.0.0.1:{port}/healthz",
        folder / "serve.log",
    )
    try:
        page = httpx.get(f"http://127.0.0.1:{port}{PATH}")
        assert page.status_code == 200, page.text
        (folder / "page.html").write_bytes(page.content)
        wrk(f"http://127.0.0.1:{port}{PATH}", 3, options.connections)  # warm-up
        leap = wrk(f"http://127.0.0.1:{port}{PATH}", options.seconds, options.connections)
    finally:
        app.terminate()
        app.wait()

    bare_port = free_port()
    bare = serve(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_page:app",
            "--port",
            str(bare_port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {"BARE_PAGE_FILE": str(folder / "page.html")},
        f"http://127.0.0.1:{bare_port}/acme/ca-homes",
        folder / "bare.log",
    )
    try:
        wrk(f"http://127.0.0.1:{bare_port}{PATH}", 3, options.connections)
        floor = wrk(f"http://127.0.0.1:{bare_port}{PATH}", options.seconds, options.connections)
    finally:
        bare.terminate()
        bare.wait()

    print(
        f"Landing page, {len(page.content)} bytes, wrk -t2 -c{options.connections} "
        f"-d{options.seconds}s, {os.cpu_count()} cores, {platform.python_version()}"
    )
    print()
    print("| server | requests/s | share of the floor |")
    print("|---|---|---|")
    print(f"| bare Starlette, same page (floor) | {floor:,.0f} | 100 % |")
    print(f"| leap-connect serve (PostgreSQL) | {leap:,.0f} | {leap / floor:.0%} |")


if __name__ == "__main__":
    main()
