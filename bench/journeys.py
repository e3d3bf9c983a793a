"""Complete customer journeys per second, and the server's peak memory while it serves them.

    .venv/bin/python -m bench.journeys [--seconds 30] [--concurrency 20] [--warmup 5]

Creates the database `leap_connect_bench_journeys` on the local PostgreSQL (`BENCH_ADMIN_URL` picks
the server), seeds the `acme` partner with a subscribed webhook endpoint (so every change records
its events, as a partner's would; no worker delivers them), then starts two real processes:
`leap-connect sandbox` (the Green Button utility) and `leap-connect serve` (uvicorn, one process)
pointed at it. `--concurrency` customers in this process each run journeys back to back, each
journey as a new browser (no cookies): landing → PG&E → sandbox sign-in → callback → finish,
ending on the partner's thank-you redirect. After `--warmup` seconds, the journeys that end within
the next `--seconds` are counted.

Prints a Markdown report: journeys per second, wall time of each HTTP step (p50/p99), CPU time per
journey of every process involved (from /proc: the steadiest figure on a shared machine) and the
server's peak resident memory (VmHWM). Targets (issue 9): 100 journeys/s, peak RSS under 200 MB.

Before the load, `--profile` journeys (default 50) run one at a time, and for each of the server's
steps the report gives its mean server CPU (from /proc, in clock ticks of 10 ms, so only the mean
over many journeys means anything) and its exact number of SQL statements (the server's
`leap_connect_database_statements_total`, read from /metrics around each request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
from tests.support.journeys import journey, journey_step, seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, running

from leap_connect.db import create_engine
from leap_connect.migrations import runner
from leap_connect.webhooks.events import EVENT_TYPES

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "leap_connect_bench_journeys"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, key: str) -> float:
    """A line of /proc/<pid>/status in MiB: VmRSS now, VmHWM the peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def child_running(command: str) -> int:
    """The pid of this process's child running `leap-connect <command>`."""
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if command.encode() in argv[1:3]:
                return int(pid)
    raise LookupError(command)


async def prepare_database() -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    await admin.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    await asyncio.to_thread(runner.upgrade, url)
    return url


async def subscribe_webhooks(base_url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        response = await api.post(
            "/v2/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "event_types": list(EVENT_TYPES)},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()


async def backend_pids(database_url: str) -> list[int]:
    """PostgreSQL backends connected to the benchmark's database (the server's pool)."""
    dsn = database_url.replace("postgresql+asyncpg", "postgresql", 1)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            DATABASE,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


def step_name(response: httpx.Response, app_base: str) -> str:
    """What a hop of the journey was, from where it went."""
    method, path = response.request.method, urlsplit(str(response.url)).path
    if not str(response.url).startswith(app_base):
        return "sandbox: sign-in page" if method == "GET" else "sandbox: sign in (approve)"
    return journey_step(method, path)


@dataclass
class Run:
    seconds: float = 0.0
    journeys: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    profile: dict[str, StepCost] = field(default_factory=dict)


async def load(
    app_base: str,
    sandbox: str,
    database_url: str,
    options: argparse.Namespace,
    processes: dict[str, int],
) -> Run:
    concurrency, warmup, seconds = options.concurrency, options.warmup, options.seconds
    run = Run()
    measuring = False
    started_at = time.monotonic()
    end = started_at + warmup + seconds
    count = 0

    async def customer(number: int) -> None:
        nonlocal count
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with httpx.AsyncClient(base_url=app_base, timeout=60, limits=limits) as client:
            while time.monotonic() < end:
                count += 1
                client.cookies.clear()  # a new customer in a new browser
                began = time.perf_counter()
                try:
                    # A new customer of the utility each time, with a meter of their own.
                    reference = f"bench-{number}-{count}"
                    browser = await journey(
                        client, sandbox, reference, username=f"residential+{reference}"
                    )
                except (AssertionError, httpx.HTTPError) as error:
                    if measuring:
                        run.failures.append(f"{type(error).__name__}: {str(error)[:200]}")
                    continue
                if not measuring:  # journeys that end within the measured seconds count
                    continue
                run.journeys.append(time.perf_counter() - began)
                for response in browser.history:
                    run.statuses[response.status_code] += 1
                    run.steps[step_name(response, app_base)].append(
                        response.elapsed.total_seconds()
                    )

    customers = [asyncio.create_task(customer(n)) for n in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    backends_before = {pid: cpu_seconds(pid) for pid in await backend_pids(database_url)}
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    await asyncio.sleep(seconds)
    measuring = False
    run.seconds = time.monotonic() - began
    run.cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    backends_after = {pid: cpu_seconds(pid) for pid in await backend_pids(database_url)}
    # A backend the pool opened meanwhile counts from zero; one it closed took its time with it.
    run.cpu[f"PostgreSQL ({len(backends_after)} backends of the server)"] = sum(
        cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items()
    )
    run.load = (load_before, os.getloadavg()[0])
    await asyncio.gather(*customers)
    return run


@dataclass
class StepCost:
    requests: int = 0
    cpu_seconds: float = 0.0
    statements: float = 0.0


async def profile_steps(
    app_base: str, sandbox: str, serve_pid: int, journeys: int
) -> dict[str, StepCost]:
    """Journeys one at a time: the server's CPU and SQL statements for each of its steps."""
    costs: dict[str, StepCost] = defaultdict(StepCost)
    before: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=app_base, timeout=30) as operator:

        async def statements_so_far() -> float:
            for line in (await operator.get("/metrics")).text.splitlines():
                if line.startswith("leap_connect_database_statements_total "):
                    return float(line.split()[1])
            raise RuntimeError("the server's /metrics has no statement count")

        async def started(request: httpx.Request) -> None:
            if str(request.url).startswith(app_base):
                before["statements"] = await statements_so_far()
                before["cpu"] = cpu_seconds(serve_pid)

        async def answered(response: httpx.Response) -> None:
            if not str(response.request.url).startswith(app_base):
                return
            await response.aread()
            cpu = cpu_seconds(serve_pid) - before["cpu"]
            cost = costs[step_name(response, app_base)]
            cost.requests += 1
            cost.cpu_seconds += cpu
            cost.statements += await statements_so_far() - before["statements"]

        hooks = {"request": [started], "response": [answered]}
        for number in range(journeys):
            reference = f"profile-{number}"
            async with httpx.AsyncClient(
                base_url=app_base, timeout=60, event_hooks=hooks
            ) as client:
                await journey(client, sandbox, reference, username=f"residential+{reference}")
    return costs


def profile_table(costs: dict[str, StepCost], journeys: int) -> list[str]:
    lines = [
        "",
        f"Each step of the server, {journeys} journeys one at a time (mean per request):",
        "",
        "| step | requests | server CPU ms | SQL statements |",
        "|---|---|---|---|",
    ]
    total_cpu = total_statements = 0.0
    for name in STEP_ORDER + sorted(set(costs) - set(STEP_ORDER)):
        cost = costs.get(name)
        if cost is None or not cost.requests:
            continue
        total_cpu += cost.cpu_seconds
        total_statements += cost.statements
        lines.append(
            f"| {name} | {cost.requests} | {cost.cpu_seconds / cost.requests * 1000:.1f} | "
            f"{cost.statements / cost.requests:.1f} |"
        )
    lines.append(
        f"| **a journey** | {journeys} | **{total_cpu / journeys * 1000:.1f}** | "
        f"**{total_statements / journeys:.1f}** |"
    )
    return lines


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


STEP_ORDER = [
    "landing",
    "choose utility",
    "sandbox: sign-in page",
    "sandbox: sign in (approve)",
    "callback",
    "session page",
    "finish",
]


def report(run: Run, options: argparse.Namespace) -> str:
    done = len(run.journeys)
    per_journey = {name: cpu / done * 1000 if done else 0.0 for name, cpu in run.cpu.items()}
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        f"Complete journeys: {options.concurrency} customers for {options.seconds} s "
        f"(after {options.warmup} s of warm-up); {os.cpu_count()} cores ({cpu_model}), "
        f"Python {platform.python_version()}; load average (1 min) {run.load[0]:.1f} at the "
        f"start, {run.load[1]:.1f} at the end.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| journeys completed | {done:,} in {run.seconds:.1f} s: "
        f"**{done / run.seconds:.1f} journeys/s** (target 100) |",
        f"| failed journeys | {len(run.failures)} |",
        f"| journey wall time p50 / p99 | {percentile(run.journeys, 0.5) * 1000:.0f} / "
        f"{percentile(run.journeys, 0.99) * 1000:.0f} ms |"
        if done
        else "| journey wall time | – |",
        f"| HTTP statuses | {', '.join(f'{s}: {n:,}' for s, n in sorted(run.statuses.items()))} |",
        *(f"| CPU per journey, {name} | {ms:.1f} ms |" for name, ms in per_journey.items()),
        f"| server RSS: at start / at end / peak (VmHWM) | {run.memory['start']:.0f} / "
        f"{run.memory['end']:.0f} / **{run.memory['peak']:.0f} MiB** (target < 200 MB) |",
        f"| sandbox RSS peak (VmHWM) | {run.memory['sandbox peak']:.0f} MiB |",
        "",
        "| step | server | requests | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in STEP_ORDER + sorted(set(run.steps) - set(STEP_ORDER)):
        timings = [t * 1000 for t in run.steps.get(name, [])]
        if timings:
            where = "sandbox" if name.startswith("sandbox") else "serve"
            lines.append(
                f"| {name} | {where} | {len(timings):,} | {statistics.median(timings):.1f} | "
                f"{percentile(timings, 0.99):.1f} | {statistics.fmean(timings):.1f} |"
            )
    if run.profile:
        lines += profile_table(run.profile, options.profile)
    if run.failures:
        lines += ["", "First failures:", *(f"- {failure}" for failure in run.failures[:5])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument(
        "--profile", type=int, default=50, help="journeys one at a time, for the cost of each step"
    )
    options = parser.parse_args()
    url = asyncio.run(prepare_database())
    token = asyncio.run(seed(url))
    folder = Path(tempfile.mkdtemp(prefix="bench-journeys-"))
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        sandbox = stack.enter_context(sandbox_process(folder, app_base))
        serve = stack.enter_context(
            running(
                ["serve", "--port", str(port)],
                env={
                    "LEAP_CONNECT_DATABASE_URL": url,
                    "LEAP_CONNECT_BASE_URL": app_base,
                    "LEAP_CONNECT_DATA_DIR": str(folder),
                    "LEAP_CONNECT_LOG_LEVEL": "WARNING",
                    **pge_variables(sandbox),
                },
                health_url=f"{app_base}/healthz",
                log_path=folder / "serve.log",
            )
        )
        asyncio.run(subscribe_webhooks(app_base, token))
        processes = {
            "server (leap-connect serve)": serve.pid,
            "sandbox utility": child_running("sandbox"),
            "load generator (this process)": os.getpid(),
        }
        print(
            f"serve pid {serve.pid}, sandbox pid {processes['sandbox utility']}, logs in {folder}",
            file=sys.stderr,
        )
        profile = (
            asyncio.run(profile_steps(app_base, sandbox, serve.pid, options.profile))
            if options.profile
            else {}
        )
        start_rss = memory_mib(serve.pid, "VmRSS")
        run = asyncio.run(load(app_base, sandbox, url, options, processes))
        run.profile = profile
        run.memory = {
            "start": start_rss,
            "end": memory_mib(serve.pid, "VmRSS"),
            "peak": memory_mib(serve.pid, "VmHWM"),
            "sandbox peak": memory_mib(processes["sandbox utility"], "VmHWM"),
        }
    print(report(run, options))


if __name__ == "__main__":
    main()
