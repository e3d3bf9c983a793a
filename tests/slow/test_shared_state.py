"""Two `serve` processes and a worker on one PostgreSQL and one Redis count, forget and report
alike, and keep serving when Redis stops answering."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import lxml.html
import pytest
import redis

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations.service import create_api_key, create_user
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY, DEVELOPMENT_SECRET_KEY
from tests.slow.conftest import log_tail
from tests.support.factories import create_partner
from tests.support.server import free_port, leap_connect_server, running

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN_EMAIL = "admin@acme.example"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"needs Redis at {REDIS_URL}")
    return REDIS_URL


async def seed(
    database_url: str, names: tuple[str, ...] = ("counted", "revoked")
) -> dict[str, tuple[uuid.UUID, str]]:
    """The `acme` partner, its admin, and an API key for each name: (id, token)."""
    engine = create_engine(database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        partner = await create_partner((sessionmaker, Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
        keys = {}
        async with sessionmaker() as session, session.begin():
            await create_user(
                session,
                organization=partner.organization,
                email=ADMIN_EMAIL,
                password=PASSWORD,
                role="admin",
            )
            for name in names:
                issued = await create_api_key(
                    session,
                    DEVELOPMENT_SECRET_KEY,
                    organization=partner.organization,
                    scopes=["webhooks:manage"],
                )
                keys[name] = (issued.api_key.id, issued.token)
        return keys
    finally:
        await engine.dispose()


async def list_webhooks(base_url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        response = await api.get("/v2/webhooks", headers={"Authorization": f"Bearer {token}"})
        return response.status_code


def csrf_of(html: str) -> str:
    [token] = lxml.html.fromstring(html).xpath("//input[@name='csrf_token']/@value")[:1]
    return str(token)


@contextlib.asynccontextmanager
async def signed_in_portal(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as portal:
        page = await portal.get("/portal/sign-in")
        signed_in = await portal.post(
            "/portal/sign-in",
            data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert signed_in.status_code == 303, signed_in.text
        yield portal


async def funnel_in_portal(base_url: str) -> dict[str, int]:
    """The funnel's counts as the portal's sessions page shows them, by step."""
    async with signed_in_portal(base_url) as portal:
        page = await portal.get("/portal/sessions")
    rows = lxml.html.fromstring(page.text).xpath(
        "//table[contains(@class,'funnel-counts')]/tbody/tr"
    )
    return {
        row.xpath("./th")[0].text_content(): int(row.xpath("./td")[0].text_content())
        for row in rows
    }


async def revoke_in_portal(base_url: str, api_key_id: uuid.UUID) -> None:
    async with signed_in_portal(base_url) as portal:
        page = await portal.get("/portal/developers")
        revoked = await portal.post(
            f"/portal/developers/api-keys/{api_key_id}/revoke",
            data={"csrf_token": csrf_of(page.text), "confirmed": "yes"},
        )
        assert revoked.status_code == 303, revoked.text


async def test_two_serve_processes_share_rate_limits_and_revocations_through_redis(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    keys = await seed(pg_url)
    env = {
        "LEAP_CONNECT_REDIS_URL": redis_url,
        "LEAP_CONNECT_API_RATE_LIMIT": "5/minute",
    }
    with (
        leap_connect_server(pg_url, tmp_path, env) as a,
        leap_connect_server(pg_url, tmp_path, env) as b,
        running(
            ["worker", "--poll-seconds", "0.2"],
            env={
                "LEAP_CONNECT_DATABASE_URL": pg_url,
                "LEAP_CONNECT_DATA_DIR": str(tmp_path),
                "LEAP_CONNECT_LOG_LEVEL": "WARNING",
                **env,
            },
            health_url=f"{a}/healthz",
            log_path=tmp_path / "worker.log",
        ),
    ):
        # Five a minute in all: three calls to each process, and the sixth is refused.
        _, counted = keys["counted"]
        statuses = [await list_webhooks(server, counted) for server in (a, a, a, b, b, b)]
        assert statuses == [200] * 5 + [429], log_tail(tmp_path)

        # B has just verified the key, and would trust it for 5 s without a word from A.
        revoked_id, revoked = keys["revoked"]
        assert await list_webhooks(b, revoked) == 200
        await revoke_in_portal(a, revoked_id)
        revoked_at = time.monotonic()
        # Polled every 0.2 s: five calls a minute leave room for those of the first second.
        while (status := await list_webhooks(b, revoked)) != 401:
            waited = time.monotonic() - revoked_at
            assert status == 200 and waited < 1, (status, waited, log_tail(tmp_path))
            await asyncio.sleep(0.2)
        assert await list_webhooks(a, revoked) == 401

        # Links opened on either process, by three visitors (one of them on both): each portal
        # shows the same funnel once the processes have saved what they noted (every 2 s).
        for server, browser in ((a, "one"), (b, "one"), (a, "two"), (b, "three"), (b, "three")):
            async with httpx.AsyncClient(headers={"User-Agent": f"browser {browser}"}) as visitor:
                opened = await visitor.get(f"{server}/acme/ca-homes?refId=c")
                assert opened.status_code == 200
        await asyncio.sleep(3)
        funnels = [await funnel_in_portal(server) for server in (a, b)]
        assert funnels[0] == funnels[1] and funnels[0]["Links opened"] == 3, funnels


class RedisServer:
    """A Redis of the test's own on a free port, which it can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            ["redis-server", *options],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process and server.process.poll() is None:
            server.stop()


async def refused_within(server: str, token: str, seconds: float) -> float:
    """Poll the key on `server` until it is refused; how long that took."""
    started = time.monotonic()
    while (status := await list_webhooks(server, token)) != 401:
        waited = time.monotonic() - started
        assert status == 200 and waited < seconds, (status, waited)
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def test_redis_stopping_fails_open_and_its_return_restores_shared_limits(
    pg_url: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    keys = await seed(pg_url, ("counted", "during", "after"))
    env = {"LEAP_CONNECT_REDIS_URL": own_redis.url, "LEAP_CONNECT_API_RATE_LIMIT": "5/minute"}
    with (
        leap_connect_server(pg_url, tmp_path, env) as a,
        leap_connect_server(pg_url, tmp_path, env) as b,
    ):
        _, counted = keys["counted"]
        _, during = keys["during"]
        assert await list_webhooks(b, during) == 200  # B subscribes, and remembers this key
        own_redis.stop()

        # No shared count: every call is served, none refused and none a 5xx.
        statuses = [await list_webhooks(server, counted) for server in (a, b) * 5]
        assert statuses == [200] * 10, log_tail(tmp_path)
        # A revocation cannot be announced, but B lost its subscription and so forgot every key
        # it had verified (it may have missed a revocation): at the latest its 5 s are up.
        during_id, _ = keys["during"]
        await revoke_in_portal(a, during_id)
        waited = await refused_within(b, during, 7)
        print(f"\nRedis down: the revoked key was refused by B after {waited:.1f} s")

        own_redis.start()  # empty, as Redis without persistence comes back
        after_id, after = keys["after"]
        # Each process subscribes again within a second or two of Redis answering.
        await asyncio.sleep(3)
        assert await list_webhooks(b, after) == 200
        await revoke_in_portal(a, after_id)
        waited = await refused_within(b, after, 1)
        print(f"Redis back: after {waited:.2f} s")
        # And the limit is shared again: five calls in all, then 429.
        statuses = [await list_webhooks(server, counted) for server in (a, a, a, b, b, b)]
        assert statuses == [200] * 5 + [429], log_tail(tmp_path)
    logs = log_tail(tmp_path)
    assert "rate_limit_store_unavailable" in logs
