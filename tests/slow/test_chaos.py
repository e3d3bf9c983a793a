"""Customers keep connecting while a careless partner churns its set-up and the database restarts.

For a minute, 100 customers do journeys while one API client creates and deletes webhook endpoints
and changes meters' references as fast as it can, and PostgreSQL is stopped and started once. Every
journey either reaches the partner's thank-you page or was answered with a page telling the customer
to try again; the partner's client never gets an error it did not cause; every record stored is one
a journey explains; and every grant the utility gave is kept with its tokens: none is orphaned.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.migrations import runner
from leap_connect.models import Organization, UtilityAuthorization
from leap_connect.organizations.service import create_api_key
from leap_connect.settings import DEVELOPMENT_SECRET_KEY
from tests.conftest import _admin_execute
from tests.slow.conftest import Cluster, assert_consistent, env_int, log_tail, stored
from tests.slow.customers import Customers, assert_accounted_for
from tests.support.journeys import seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server, running

pytestmark = pytest.mark.slow

CUSTOMERS = env_int("LEAP_CONNECT_SLOW_CHAOS_CUSTOMERS", 100)
SECONDS = env_int("LEAP_CONNECT_SLOW_CHAOS_SECONDS", 60)
ENDPOINT_SCRIPTS = 3
RENAMING_SCRIPTS = 2
ESPI = "{http://naesb.org/espi}"
ATOM = "{http://www.w3.org/2005/Atom}"
EVERY_EVENT = [
    "connect_session.updated",
    "connect_session.authorization_updated",
    "meter.created",
    "meter.updated",
    "meter.partner_reference.updated",
]


@dataclass
class CarelessPartner:
    """An API client that keeps replacing its webhook endpoint and renaming meters."""

    base: str
    token: str
    receiver: str  # where its endpoints point: any URL, deliveries may fail
    answers: list[tuple[str, int]] = field(default_factory=list)
    # Anything but the answer the call asked for or a 503 with Retry-After.
    failures: list[str] = field(default_factory=list)

    async def churn_endpoints(self, stop: asyncio.Event) -> None:
        """Create an endpoint for every event, delete the one before, again and again."""
        async with self._api() as api:
            alive: list[str] = []
            for turn in itertools.count():
                if stop.is_set():
                    break
                created = await self._call(
                    api,
                    "create endpoint",
                    201,
                    "POST",
                    "/v2/webhooks",
                    json={"url": f"{self.receiver}/{turn}", "event_types": EVERY_EVENT},
                )
                if created is not None:
                    alive.append(created.json()["webhook_endpoint_id"])
                while len(alive) > 1:
                    path = f"/v2/webhooks/{alive[0]}"
                    if await self._call(api, "delete endpoint", 204, "DELETE", path) is None:
                        break  # not deleted: tried again next turn
                    alive.pop(0)

    async def rename_meters(self, stop: asyncio.Event) -> None:
        """Give the newest meters new references, one after another."""
        async with self._api() as api:
            for turn in itertools.count():
                if stop.is_set():
                    break
                found = await self._call(
                    api, "search", 200, "POST", "/v2/meters/search", json={"page_size": 20}
                )
                meters = found.json()["meters"] if found is not None else []
                for meter in random.sample(meters, min(5, len(meters))):
                    await self._call(
                        api,
                        "rename meter",
                        200,
                        "PATCH",
                        f"/v2/meters/{meter['meter_id']}/partner_reference",
                        json={"partner_reference": f"renamed-{turn}"},
                    )
                await asyncio.sleep(0.1)

    def _api(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=60)

    async def _call(
        self, api: httpx.AsyncClient, what: str, expected: int, method: str, url: str, **kw: object
    ) -> httpx.Response | None:
        try:
            response = await api.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            self.failures.append(f"{what}: {type(error).__name__}")
            return None
        self.answers.append((what, response.status_code))
        if response.status_code == expected:
            return response
        if response.status_code == 503 and response.headers.get("retry-after"):
            await asyncio.sleep(0.5)  # sooner than asked: a careless client
        else:
            self.failures.append(f"{what}: {response.status_code} {response.text[:300]}")
        return None

    def count(self, what: str, status: int) -> int:
        return sum(1 for answer in self.answers if answer == (what, status))


async def api_token(database_url: str) -> str:
    """A key for the careless partner's client, able to manage webhooks and rename meters."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            organization = await session.scalar(select(Organization))
            assert organization is not None
            issued = await create_api_key(
                session,
                DEVELOPMENT_SECRET_KEY,
                organization=organization,
                scopes=["webhooks:manage", "meters:read", "meters:write"],
            )
            return issued.token
    finally:
        await engine.dispose()


async def grants_at_the_utility(sandbox: str) -> dict[str, bool]:
    """Every grant the sandbox utility gave our client, by its authorization URI: active or not.

    Read as a third party reads its Authorizations: a client-credentials token, then the feed.
    """
    credentials = ("leap-connect-sandbox", "sandbox-secret")
    async with httpx.AsyncClient(timeout=30) as client:
        issued = await client.post(
            f"{sandbox}/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()
        feed = await client.get(
            token["authorizationURI"], headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert feed.status_code == 200, feed.text
    grants = {}
    for authorization in ET.fromstring(feed.content).iter(f"{ESPI}Authorization"):
        uri = authorization.findtext(f"{ESPI}authorizationURI")
        assert uri, ET.tostring(authorization)
        grants[uri] = authorization.findtext(f"{ESPI}status") == "1"
    return grants


async def kept_grants(database_url: str) -> dict[str, UtilityAuthorization]:
    """The authorizations we hold tokens for, by the utility's URI of the grant."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.scalars(
                select(UtilityAuthorization).where(
                    UtilityAuthorization.access_token_encrypted.is_not(None)
                )
            )
            return {row.utility_authorization_ref or "": row for row in rows}
    finally:
        await engine.dispose()


async def waiting_to_be_recorded(database_url: str) -> int:
    """Grants kept by a callback but not recorded yet (their job records them)."""
    _, attempts, _, _ = await stored(database_url)
    return sum(1 for a in attempts if a.status == "INITIATED" and a.authorized_at is not None)


async def test_customers_keep_their_grants_through_a_careless_partner_and_a_database_restart(
    cluster: Cluster, tmp_path: Path
) -> None:
    await _admin_execute(cluster.url("postgres"), "CREATE DATABASE leap")
    url = cluster.url("leap")
    await asyncio.to_thread(runner.upgrade, url)
    await seed(url)
    token = await api_token(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with sandbox_process(tmp_path, base) as sandbox:
        env = {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": base}
        worker_env = {
            "LEAP_CONNECT_DATABASE_URL": url,
            "LEAP_CONNECT_DATA_DIR": str(tmp_path),
            "LEAP_CONNECT_LOG_LEVEL": "WARNING",
            **env,
        }
        with (
            leap_connect_server(url, tmp_path, env, port=port),
            running(
                ["worker", "--poll-seconds", "0.2"],
                env=worker_env,
                health_url=f"{base}/healthz",
                log_path=tmp_path / "worker.log",
            ),
        ):
            # Patient customers: a callback during the outage keeps trying to store its grant
            # for 20 s, and the queue that built up meanwhile drains after it.
            customers = Customers(base, sandbox, patience=120)
            partner = CarelessPartner(base, token, f"{sandbox.split('/sandbox/')[0]}/hooks")
            stop = asyncio.Event()
            started = time.monotonic()
            load = asyncio.create_task(customers.run(CUSTOMERS, lambda: not stop.is_set()))
            # Several of its scripts at once, each replacing its own endpoint, and two renaming.
            churn = asyncio.gather(
                *(partner.churn_endpoints(stop) for _ in range(ENDPOINT_SCRIPTS)),
                *(partner.rename_meters(stop) for _ in range(RENAMING_SCRIPTS)),
            )

            await asyncio.sleep(SECONDS / 3)
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(3)  # customers and the partner keep coming meanwhile
            await asyncio.to_thread(cluster.start)
            await asyncio.sleep(max(0.0, SECONDS - (time.monotonic() - started)))
            stop.set()
            await asyncio.gather(load, churn)
            elapsed = time.monotonic() - started

            # A grant kept while recording could not finish is recorded by the worker's job.
            deadline = time.monotonic() + 120
            while await waiting_to_be_recorded(url):
                assert time.monotonic() < deadline, log_tail(tmp_path)
                await asyncio.sleep(1)

        grants = await grants_at_the_utility(sandbox)

    print(f"\n{CUSTOMERS} customers, a careless partner, PostgreSQL restarted once:")
    print(customers.summary(elapsed))
    print(
        f"partner: {partner.count('create endpoint', 201)} endpoints created, "
        f"{partner.count('delete endpoint', 204)} deleted, "
        f"{partner.count('rename meter', 200)} meters renamed, "
        f"answers: {dict(Counter(partner.answers))}"
    )
    assert customers.failures == [], customers.failures[:10]
    assert partner.failures == [], partner.failures[:10]
    assert len(customers.completed) >= CUSTOMERS // 2, customers.summary(elapsed)
    assert partner.count("delete endpoint", 204) >= 10 and partner.count("rename meter", 200) >= 5
    # A journey that did not finish ended on a page telling the customer what to do.
    for record in customers.journeys:
        if not record.completed:
            said = record.seen[-1].says.lower()
            assert "try again" in said, (record.ref_id, record.seen[-1])

    sessions, attempts, meters, references = await stored(url)
    assert_consistent(sessions, attempts, meters, references)
    assert_accounted_for(customers, sessions, attempts, meters, references)
    # Every grant the utility still holds active is one we keep the tokens of: none orphaned.
    kept = await kept_grants(url)
    orphaned = [uri for uri, active in grants.items() if active and uri not in kept]
    assert grants and not orphaned, (len(grants), orphaned[:5])
