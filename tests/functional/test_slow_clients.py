"""A slow client costs the process a socket, never one of its request slots; /readyz says when the
slots run out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from functools import partial
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from leap_connect.app import create_app, runtime_of_app
from leap_connect.cli.http_protocol import BoundedHeadersProtocol
from leap_connect.settings import Settings
from tests.support.factories import create_partner
from tests.support.server import free_port, leap_connect_server

SLOTS = 4
BODY_DEADLINE = 2.0
BODY_IDLE = 1.0
DECLARED = {"Content-Length": "100000", "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def few_slots_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={
                "max_concurrent_requests": SLOTS,
                "request_body_timeout_seconds": BODY_DEADLINE,
                "request_body_idle_timeout_seconds": BODY_IDLE,
            }
        )
    )
    yield app
    await runtime_of_app(app).close()


@pytest.fixture
async def few_slots(few_slots_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=few_slots_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=30
    ) as http:
        yield http


async def trickle(count: int, every: float) -> AsyncIterator[bytes]:
    """One byte every `every` seconds, `count` times: a body that never ends in time."""
    for _ in range(count):
        yield b"a"
        await asyncio.sleep(every)


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_slow_bodies_beyond_the_slots_do_not_keep_the_landing_page_waiting(
    few_slots: httpx.AsyncClient, few_slots_app: FastAPI
) -> None:
    await create_partner(runtime_of_app(few_slots_app))
    slow = [
        asyncio.ensure_future(
            timed(few_slots.post("/portal/sign-in", content=trickle(40, 0.2), headers=DECLARED))
        )
        for _ in range(SLOTS + 2)
    ]
    try:
        await asyncio.sleep(0.5)

        landing = await asyncio.wait_for(few_slots.get("/acme/ca-homes"), timeout=1.5)

        assert landing.status_code == 200
    finally:
        answers = await asyncio.gather(*slow)
    for response, elapsed in answers:
        assert response.status_code == 408
        assert BODY_DEADLINE - 0.1 <= elapsed < BODY_DEADLINE + 2
        assert response.headers["connection"] == "close"
        assert "Request timeout" in response.text
        assert "did not arrive within 2 seconds" in response.text
        assert f"Reference for support: {response.headers['x-request-id']}" in response.text


async def test_a_body_that_stops_arriving_is_answered_408_after_the_idle_timeout(
    few_slots: httpx.AsyncClient,
) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"customer_name=Ada"
        await asyncio.sleep(6)
        yield b"&more"

    response, elapsed = await timed(
        few_slots.post("/acme/ca-homes", content=stalls(), headers=DECLARED)
    )

    assert response.status_code == 408
    assert BODY_IDLE - 0.1 <= elapsed < BODY_DEADLINE
    assert response.headers["content-type"].startswith("text/html")
    assert "Nothing more of the request arrived for 1 second." in response.text


async def test_a_slow_api_body_is_answered_with_a_408_problem(
    few_slots: httpx.AsyncClient,
) -> None:
    response = await few_slots.post(
        "/v2/meters/search",
        content=trickle(40, 0.2),
        headers={"Content-Length": "5000", "Content-Type": "application/json"},
    )

    assert response.status_code == 408
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["title"]) == (408, "Request timeout")
    assert problem["detail"] == "The request's body did not arrive within 2 seconds."


async def test_readyz_says_saturated_while_every_slot_is_taken_and_as_many_wait(
    few_slots: httpx.AsyncClient, few_slots_app: FastAPI
) -> None:
    release = asyncio.Event()

    @few_slots_app.get("/test-only/held/request")
    async def held() -> dict[str, str]:
        await release.wait()
        return {"status": "done"}

    requests = [
        asyncio.ensure_future(few_slots.get("/test-only/held/request")) for _ in range(2 * SLOTS)
    ]
    try:
        await asyncio.sleep(0.3)
        saturated = await few_slots.get("/readyz")
    finally:
        release.set()
        done = await asyncio.gather(*requests)
    ready = await few_slots.get("/readyz")

    assert saturated.status_code == 503
    assert saturated.headers["retry-after"].isdigit()
    assert saturated.json() == {
        "status": "saturated",
        "requests_running": SLOTS,
        "requests_waiting": SLOTS,
    }
    assert [response.status_code for response in done] == [200] * 2 * SLOTS
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}


async def test_readyz_stays_ready_while_a_few_requests_wait(
    few_slots: httpx.AsyncClient, few_slots_app: FastAPI
) -> None:
    release = asyncio.Event()

    @few_slots_app.get("/test-only/held/request")
    async def held() -> dict[str, str]:
        await release.wait()
        return {"status": "done"}

    requests = [
        asyncio.ensure_future(few_slots.get("/test-only/held/request")) for _ in range(SLOTS + 1)
    ]
    try:
        await asyncio.sleep(0.3)
        busy = await few_slots.get("/readyz")
    finally:
        release.set()
        await asyncio.gather(*requests)

    assert busy.status_code == 200


# --- over real sockets ------------------------------------------------------------------------


async def slow_post(port: int, path: str, *, every: float, count: int) -> bytes:
    """A client that declares a 100 kB form and sends it a byte at a time; what it was answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
        )
        for _ in range(count):
            writer.write(b"a")
            await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(200), timeout=every)
            except TimeoutError:
                continue
        return b""
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def slow_headers(port: int, *, every: float, count: int) -> bytes:
    """A client that sends a header line now and then, and never the blank line ending them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /portal/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for line in range(count):
            writer.write(f"X-Slow-{line}: a\r\n".encode())
            await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(200), timeout=every)
            except TimeoutError:
                continue
        return b""
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_a_served_process_answers_pages_while_slow_clients_hold_more_sockets_than_slots(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "LEAP_CONNECT_MAX_CONCURRENT_REQUESTS": "2",
        "LEAP_CONNECT_REQUEST_BODY_TIMEOUT_SECONDS": "3",
        "LEAP_CONNECT_REQUEST_HEADER_TIMEOUT_SECONDS": "2",
    }
    with leap_connect_server(database_url, tmp_path, env) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        slow = [
            *(slow_post(port, "/portal/sign-in", every=0.25, count=30) for _ in range(4)),
            *(slow_headers(port, every=0.25, count=30) for _ in range(2)),
        ]
        waiting = [asyncio.ensure_future(client) for client in slow]
        try:
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
                page = await http.get("/portal/sign-in")
        finally:
            answers = await asyncio.gather(*waiting)

    assert page.status_code == 200
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers
    assert answers[-1].endswith(b"The request's headers did not arrive in time.")


async def test_headers_larger_than_the_bound_are_refused() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    protocol = partial(BoundedHeadersProtocol, header_timeout=5, max_header_bytes=4096)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, http=protocol, log_level="error", lifespan="off"
        )
    )
    serving = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            fine = await http.get("/", headers={"X-Fine": "a" * 3000})
            huge = await http.get("/", headers={"X-Huge": "a" * 5000})
    finally:
        server.should_exit = True
        await serving

    assert fine.status_code == 200
    assert huge.status_code == 400
