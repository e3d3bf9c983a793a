"""`leap-connect demo`, unconfigured: the printed link ends on a verified thank-you page."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import select

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.models import Meter
from tests.support.browser import Browser
from tests.support.server import CLI, free_port, wait_until_up


async def test_demo_link_takes_a_customer_to_a_verified_thank_you_page(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAP_CONNECT_")}
    env["LEAP_CONNECT_DATA_DIR"] = str(tmp_path / "data")
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CLI, "demo", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
            printed = log_path.read_text()
            assert "API key (shown once" in printed
            link = re.search(r"(http://\S+refId=demo-customer-1)", printed)
            assert link, printed
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                browser = Browser(client)
                landing = await browser.open(link.group(1))
                at_utility = await browser.submit(
                    landing,
                    button=("utility_id", "pge"),
                    fields={
                        "customer_type": "residential",
                        "customer_name": "Ada Lovelace",
                        "customer_email": "ada@example.com",
                    },
                )
                session_page = await browser.submit(
                    at_utility,
                    button=("decision", "approve"),
                    fields={"username": "residential", "password": "sandbox"},
                )
                thank_you = await browser.submit(session_page, button=("action", "continue"))
            assert thank_you.url.startswith(f"{base}/demo/thank-you?")
            assert "Signature valid" in thank_you.text
            assert "demo-customer-1" in thank_you.text
        finally:
            process.terminate()
            process.wait(timeout=10)

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'leap-connect.db'}")
    async with create_sessionmaker(engine)() as session:
        references = list((await session.execute(select(Meter.partner_reference))).scalars())
    await engine.dispose()
    assert references == ["demo-customer-1"]


async def test_demo_thank_you_page_rejects_a_forged_signature(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEAP_CONNECT_")}
    env["LEAP_CONNECT_DATA_DIR"] = str(tmp_path / "data")
    with (tmp_path / "demo.log").open("wb") as log:
        process = subprocess.Popen(
            [CLI, "demo", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
            response = httpx.get(
                f"http://127.0.0.1:{port}/demo/thank-you",
                params={
                    "refId": "demo-customer-1",
                    "connect_session_id": "00000000-0000-0000-0000-000000000000",
                    "status": "completed",
                    "ts": "1700000000",
                    "signature": "0" * 64,
                },
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert response.status_code == 400
    assert "Signature invalid" in response.text
