"""The Green Button connector against a sandbox in another process, configured only by variables."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.crypto import Encryptor
from leap_connect.models import Meter, UtilityAuthorization
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY
from tests.support.browser import Browser, Page
from tests.support.certificates import make_tls_files
from tests.support.factories import RESIDENTIAL_DETAILS, create_partner
from tests.support.sandbox import client_context, pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server

DETAILS = RESIDENTIAL_DETAILS


async def seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await create_partner((create_sessionmaker(engine), Encryptor(DEVELOPMENT_ENCRYPTION_KEY)))
    finally:
        await engine.dispose()


async def stored(database_url: str) -> tuple[list[Meter], list[UtilityAuthorization]]:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            meters = list((await session.execute(select(Meter))).scalars())
            attempts = list((await session.execute(select(UtilityAuthorization))).scalars())
            return meters, attempts
    finally:
        await engine.dispose()


async def customer_connects_pge(
    base_url: str, sandbox: str, verify: ssl.SSLContext | bool = True
) -> Page:
    async with httpx.AsyncClient(base_url=base_url, verify=verify, timeout=30) as client:
        browser = Browser(client, also_follow=(sandbox.split("/sandbox/")[0],))
        landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=ext-1")
        at_utility = await browser.submit(landing, button=("utility_id", "pge"), fields=DETAILS)
        assert at_utility.url.startswith(sandbox), at_utility.url
        return await browser.submit(
            at_utility,
            button=("decision", "approve"),
            fields={"username": "residential", "password": "sandbox"},
        )


async def test_connector_uses_a_separately_running_utility_configured_by_variables(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with (
        sandbox_process(tmp_path, app_base) as sandbox,
        leap_connect_server(
            database_url,
            tmp_path,
            {**pge_variables(sandbox), "LEAP_CONNECT_BASE_URL": app_base},
            port=port,
        ),
    ):
        session_page = await customer_connects_pge(app_base, sandbox)
    assert "Connected · 1 meter" in session_page.text
    meters, _ = await stored(database_url)
    assert [(m.utility_id, m.partner_reference) for m in meters] == [("pge", "ext-1")]
    assert meters[0].usage_point_uri and meters[0].usage_point_uri.startswith(sandbox)


async def test_token_exchange_presents_the_client_certificate_the_utility_demands(
    database_url: str, tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path)
    await seed(database_url)
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with (
        sandbox_process(tmp_path, app_base, tls) as sandbox,
        leap_connect_server(
            database_url,
            tmp_path,
            {**pge_variables(sandbox, tls), "LEAP_CONNECT_BASE_URL": app_base},
            port=port,
        ),
    ):
        session_page = await customer_connects_pge(app_base, sandbox, verify=client_context(tls))
    assert "Connected · 1 meter" in session_page.text
    meters, attempts = await stored(database_url)
    assert len(meters) == 1 and attempts[0].status == "COMPLETED"


async def test_without_the_client_certificate_the_utility_refuses_the_token_exchange(
    database_url: str, tmp_path: Path
) -> None:
    tls = make_tls_files(tmp_path)
    await seed(database_url)
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with (
        sandbox_process(tmp_path, app_base, tls) as sandbox,
        leap_connect_server(
            database_url,
            tmp_path,
            {
                **pge_variables(sandbox, tls, with_certificate=False),
                "LEAP_CONNECT_BASE_URL": app_base,
            },
            port=port,
        ),
    ):
        page = await customer_connects_pge(app_base, sandbox, verify=client_context(tls))
    assert page.status == 503
    assert "is not answering right now" in page.text
    meters, attempts = await stored(database_url)
    assert meters == [] and attempts[0].error_code == "utility_down"
