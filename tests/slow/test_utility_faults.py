"""A utility failing, hanging, or sending bad or huge data: retry page, FAILED attempt, no stall."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from leap_connect.utilities.green_button import MAX_FEED_BYTES
from tests.functional.webhooks.receiver import free_socket
from tests.slow.conftest import stored
from tests.support.browser import Browser
from tests.support.journeys import DETAILS, seed
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server

pytestmark = pytest.mark.slow

TIMEOUT_SECONDS = 1.0


class FakeUtility:
    """PG&E's token endpoint and feeds, misbehaving as `mode` says; consent is the sandbox's."""

    def __init__(self, sandbox: str) -> None:
        self.sandbox = sandbox
        self.mode = "ok"
        self.base = ""

    async def token(self, request: Request) -> Response:
        if self.mode == "token_500":
            return Response("internal error", status_code=500)
        if self.mode == "token_hang":
            await asyncio.sleep(TIMEOUT_SECONDS * 5)
        async with httpx.AsyncClient() as client:
            upstream = await client.post(
                f"{self.sandbox}/oauth/token",
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            )
        body = upstream.json()
        body["resourceURI"] = f"{self.base}/espi/Batch/Subscription/1"
        body.pop("customerResourceURI", None)
        return JSONResponse(body, status_code=upstream.status_code)

    async def feed(self, request: Request) -> Response:
        if self.mode == "huge":

            async def chunks() -> AsyncIterator[bytes]:
                chunk = b"<!-- " + b"x" * 1_048_576 + b" -->"
                yield b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
                for _ in range(MAX_FEED_BYTES // len(chunk) + 2):
                    yield chunk

            return StreamingResponse(chunks(), media_type="application/atom+xml")
        return Response(b"<feed><entry><unclosed", media_type="application/atom+xml")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth/token", self.token, methods=["POST"]),
                Route("/espi/{path:path}", self.feed),
            ]
        )


@contextmanager
def running_fake(fake: FakeUtility) -> Iterator[FakeUtility]:
    sock = free_socket()
    fake.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "fake utility did not start"
        time.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# (how the utility misbehaves, the attempt's error_code, the status of the customer's page)
FAULTS = [
    ("token_500", "utility_down", 503),
    ("token_hang", "utility_down", 503),
    ("bad_xml", "invalid_response", 502),
    ("huge", "invalid_response", 502),
]


async def test_utility_faults_give_a_retry_page_and_a_failed_attempt(
    pg_url: str, tmp_path: Path
) -> None:
    await seed(pg_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with sandbox_process(tmp_path, base) as sandbox, running_fake(FakeUtility(sandbox)) as fake:
        variables = {
            **pge_variables(sandbox),
            "LEAP_CONNECT_UTILITIES__PGE__TOKEN_URL": f"{fake.base}/oauth/token",
            "LEAP_CONNECT_HTTP_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "LEAP_CONNECT_BASE_URL": base,
        }
        with leap_connect_server(pg_url, tmp_path, variables, port=port):
            for number, (mode, _, status) in enumerate(FAULTS):
                fake.mode = mode
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    browser = Browser(client, also_follow=(sandbox.split("/sandbox/")[0],))
                    landing = await browser.open(
                        f"/acme/ca-homes?requestedUtilities=pge&refId=fault-{number}"
                    )
                    at_utility = await browser.submit(
                        landing, button=("utility_id", "pge"), fields=DETAILS
                    )
                    consent = browser.submit(
                        at_utility,
                        button=("decision", "approve"),
                        fields={"username": "residential", "password": "sandbox"},
                    )

                    async def healthy_meanwhile() -> list[int]:
                        codes = []
                        for _ in range(5):
                            codes.append((await client.get("/healthz")).status_code)
                            await asyncio.sleep(0.05)
                        return codes

                    page, health = await asyncio.gather(consent, healthy_meanwhile())
                assert health == [200] * 5, mode
                assert page.status == status, (mode, page.status, page.text)
                # A retry page: it offers PG&E again.
                assert "Try PG&E again" in page.text, page.text
                page.form_with_button("utility_id", "pge")

    _, attempts, meters, _ = await stored(pg_url)
    assert meters == []
    by_reference = {}
    sessions, *_ = await stored(pg_url)
    references = {s.id: s.partner_reference for s in sessions}
    for attempt in attempts:
        by_reference[references[attempt.connect_session_id]] = (attempt.status, attempt.error_code)
    assert by_reference == {
        f"fault-{number}": ("FAILED", code) for number, (_, code, _) in enumerate(FAULTS)
    }
