"""The funnel: visitors counted once a day from stored rows, and no step above the one before."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from leap_connect.app import create_app, runtime_of_app
from leap_connect.connect import repository as connect_repository
from leap_connect.connect.flows import create_flow
from leap_connect.connect.link_opens import LinkOpenRecorder, save_link_opens, saving_link_opens
from leap_connect.connect.service import browser_binding
from leap_connect.models import (
    Agreement,
    ConnectFlow,
    ConnectSession,
    Document,
    LinkOpen,
    UtilityAuthorization,
)
from leap_connect.portal import insights
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.functional.portal.conftest import ADMIN_EMAIL, Portal
from tests.functional.portal.journey import finish_journey
from tests.support.factories import Partner

SCANNER = {"user-agent": "Mozilla/5.0 (compatible; LinkScanner/2.1)"}


def funnel_rows(page_document: object) -> dict[str, int]:
    rows = page_document.xpath(  # type: ignore[attr-defined]
        "//table[contains(@class,'funnel-counts')]/tbody/tr"
    )
    return {
        row.xpath("./th")[0].text_content(): int(row.xpath("./td")[0].text_content())
        for row in rows
    }


def client_of(server: FastAPI, address: str) -> httpx.AsyncClient:
    """A browser of its own (no cookies yet) at a network address."""
    transport = httpx.ASGITransport(app=server, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def stored_opens(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(LinkOpen))).scalar_one())


async def test_a_scanner_opening_every_link_of_a_campaign_is_one_visitor_a_day(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    for number in range(20):
        page = await signed_in.client.get(f"/acme/ca-homes?refId=cust-{number}", headers=SCANNER)
        assert page.status_code == 200
    await signed_in.client.get("/acme/ca-homes?refId=cust-1", headers={"user-agent": "Firefox"})

    assert await stored_opens(runtime) == 0  # the landing GETs wrote nothing themselves
    assert await save_link_opens(runtime) == 2
    await signed_in.client.get("/acme/ca-homes?refId=cust-2", headers=SCANNER)
    assert await save_link_opens(runtime) == 0  # already stored today

    connect_tab = await signed_in.open("/portal/connect")
    [opened] = connect_tab.document.xpath(
        "//dt[normalize-space()='Links opened, last 30 days']/following-sibling::dd"
    )
    assert opened.text_content() == "2"
    sessions_tab = await signed_in.open("/portal/sessions?flow=ca-homes")
    assert funnel_rows(sessions_tab.document)["Links opened"] == 2


async def test_the_funnel_after_one_journey_says_what_each_step_counts(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with client_of(app, "192.0.2.50") as scanner:
        await scanner.get("/acme/ca-homes", headers=SCANNER)
    await finish_journey(client, app)  # opens the link, then starts a session in the same browser
    await save_link_opens(runtime)

    page = await signed_in.open("/portal/sessions?flow=ca-homes")

    assert funnel_rows(page.document) == {
        "Links opened": 2,  # the scanner, and the customer (once, with their session)
        "Utility chosen": 1,
        "Authorized": 1,
        "Completed": 1,  # the flow has no terms: no "Signed" step
    }
    explained = {
        row.xpath("./th")[0].text_content(): row.xpath("./td")[2].text_content()
        for row in page.document.xpath("//table[contains(@class,'funnel-counts')]/tbody/tr")
    }
    assert "each once a day" in explained["Links opened"]
    assert "went further" in explained["Authorized"]
    assert [int(bar.get("width")) for bar in page.document.xpath("//svg//rect")] == [
        400,
        200,
        200,
        200,
    ]


@pytest.fixture
async def second_server(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """Another server process on the same database (the first is the `app` fixture)."""
    other = create_app(settings)
    yield other
    await runtime_of_app(other).close()


async def test_two_servers_show_the_same_funnel_within_seconds(
    app: FastAPI, second_server: FastAPI, partner: Partner, admin: object, runtime: Runtime
) -> None:
    async with (
        saving_link_opens(runtime_of_app(app), every=timedelta(seconds=0.2)),
        saving_link_opens(runtime_of_app(second_server), every=timedelta(seconds=0.2)),
    ):
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            async with client_of(app, address) as first, client_of(second_server, address) as other:
                # The same visitor on both servers, and twice on one: one open.
                for http in (first, other, other):
                    assert (await http.get("/acme/ca-homes?refId=c")).status_code == 200
        async with client_of(second_server, "198.51.100.9") as other:
            await other.get("/acme/ca-homes")
        for _ in range(50):
            if await stored_opens(runtime) == 4:
                break
            await asyncio.sleep(0.1)

        funnels = []
        for server in (app, second_server):
            async with client_of(server, "203.0.113.7") as http:
                portal = Portal(http)
                assert (await portal.sign_in(ADMIN_EMAIL)).status_code == 303
                funnels.append(funnel_rows((await portal.open("/portal/sessions")).document))

    assert funnels[0] == funnels[1]
    assert funnels[0]["Links opened"] == 4


# --- the property: for any journey events, no step counts more than the one before -------------

BROWSERS = ["browser-a", "browser-b", "browser-c"]
VISITORS = [("192.0.2.1", "Safari"), ("192.0.2.1", "Chrome"), ("192.0.2.2", "Safari")]
DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

open_link = st.tuples(
    st.just("open"),
    st.integers(0, len(VISITORS) - 1),
    st.integers(0, len(BROWSERS) - 1),
    st.integers(0, 2),
)
start_session = st.tuples(
    st.just("start"), st.integers(0, len(BROWSERS) - 1), st.integers(0, 2), st.just(0)
)
progress = st.tuples(
    st.sampled_from(["authorize", "fail", "sign", "complete", "close"]),
    st.integers(0, 5),
    st.just(0),
    st.just(0),
)
journeys = st.lists(st.one_of(open_link, start_session, progress), max_size=25)
flow_numbers = itertools.count()


async def new_flow(runtime: Runtime, partner: Partner, *, terms_first: bool) -> ConnectFlow:
    async with runtime.sessionmaker() as db, db.begin():
        flow = await create_flow(
            db,
            organization=partner.organization,
            url_friendly_title=f"flow-{next(flow_numbers)}",
            region="CAISO",
            utility_ids=["pge"],
            customer_types=["residential"],
            thank_you_url="https://acme.example/thanks",
            development=True,
        )
        flow.terms_before_authorization = terms_first
        return flow


async def play(
    runtime: Runtime, flow: ConnectFlow, events: list[tuple[str, int, int, int]]
) -> None:
    """Store what the events would leave behind, as the journey's own code stores it."""
    sessions: list[ConnectSession] = []
    async with runtime.sessionmaker() as db, db.begin():
        document = Document(
            flow_id=flow.id,
            customer_type="residential",
            slug="terms",
            title="Terms",
            version=1,
            body_markdown="Terms",
            sha256="0" * 64,
        )
        db.add(document)
        await db.flush()
        for kind, first, second, day in events:
            at = DAY + timedelta(days=day)
            if kind == "open":
                recorder = LinkOpenRecorder(runtime.secret_key, clock=lambda at=at: at)
                address, agent = VISITORS[first]
                recorder.record(
                    flow, client_address=address, user_agent=agent, browser_id=BROWSERS[second]
                )
                await connect_repository.add_link_opens(db, recorder.take())
            elif kind == "start":
                connect_session = ConnectSession(
                    organization_id=flow.organization_id,
                    flow_id=flow.id,
                    requested_utility_ids=[],
                    customer_type="residential",
                    browser_binding_hmac=browser_binding(runtime.secret_key, BROWSERS[first]),
                    last_interaction_at=at,
                    created_at=at,
                )
                db.add(connect_session)
                await db.flush()
                sessions.append(connect_session)
            elif sessions:
                connect_session = sessions[first % len(sessions)]
                if kind in ("authorize", "fail"):
                    db.add(
                        UtilityAuthorization(
                            organization_id=flow.organization_id,
                            connect_session_id=connect_session.id,
                            utility_id="pge",
                            status="COMPLETED" if kind == "authorize" else "FAILED",
                            state_hmac=uuid.uuid4().hex,
                            state_expires_at=DAY,
                        )
                    )
                elif kind == "sign":
                    db.add(
                        Agreement(
                            organization_id=flow.organization_id,
                            connect_session_id=connect_session.id,
                            document_id=document.id,
                            document_sha256=document.sha256,
                            signer_name="Ada",
                            meter_ids=[],
                            consented_at=DAY,
                            signed_at=DAY,
                        )
                    )
                else:
                    connect_session.status = "COMPLETED" if kind == "complete" else "CLOSED"
                await db.flush()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=journeys, terms_first=st.booleans())
async def test_for_any_journey_events_no_funnel_step_counts_more_than_the_one_before(
    runtime: Runtime, partner: Partner, events: list[tuple[str, int, int, int]], terms_first: bool
) -> None:
    flow = await new_flow(runtime, partner, terms_first=terms_first)
    await play(runtime, flow, events)

    async with runtime.sessionmaker() as db:
        funnel = await insights.funnel(
            db, partner.organization.id, flow, first=DAY.date(), last=DAY.date() + timedelta(2)
        )

    counts = [bar.count for bar in funnel.bars]
    assert counts == sorted(counts, reverse=True), list(zip(funnel.bars, counts, strict=True))
    started = sum(1 for kind, *_ in events if kind == "start")
    assert funnel.bars[1].count == started
    assert all(bar.width <= insights.CHART_WIDTH for bar in funnel.bars)
