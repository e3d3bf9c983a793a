"""Request bodies: read whole before the app, within their route's size and a time limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from leap_connect.kit.body_limit import RequestBodyMiddleware


async def echo_length(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def client(
    limit: int, *, by_path: dict[str, int] | None = None, timeout: float = 5, idle: float = 5
) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/v2/echo", echo_length, methods=["POST"]),
            Route("/upload", echo_length, methods=["POST"]),
        ]
    )
    wrapped = RequestBodyMiddleware(
        app, timeout=timeout, idle_timeout=idle, max_bytes=limit, max_bytes_by_path=by_path
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://test")


async def chunks(count: int, size: int, every: float = 0) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"z" * size
        await asyncio.sleep(every)


async def test_body_within_the_limit_reaches_the_app() -> None:
    async with client(1000) as http:
        response = await http.post("/v2/echo", content=b"a" * 1000)
    assert (response.status_code, response.text) == (200, "1000")


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    read: list[Message] = []

    async def receive() -> Message:
        read.append({"type": "http.request"})
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app ran")

    middleware = RequestBodyMiddleware(never, timeout=5, idle_timeout=5, max_bytes=1000)
    await middleware(
        {
            "type": "http",
            "method": "POST",
            "path": "/v2/echo",
            "headers": [(b"content-length", b"1001")],
            "query_string": b"",
        },
        receive,
        send,
    )

    assert read == []
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_a_body_over_the_limit_is_a_problem_on_the_api_and_a_page_elsewhere() -> None:
    async with client(1000) as http:
        api = await http.post("/v2/echo", content=b"a" * 1001)
        page = await http.post("/upload", content=b"a" * 1001)

    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["detail"] == (
        "The request body is larger than 1000 bytes, the most this operation accepts."
    )
    assert page.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "larger than 1000 bytes, the most this page accepts" in page.text


async def test_streamed_body_over_the_limit_is_refused() -> None:
    async with client(4096) as http:
        response = await http.post("/v2/echo", content=chunks(10, 1024))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_streamed_body_within_the_limit_reaches_the_app() -> None:
    async with client(4096) as http:
        response = await http.post("/v2/echo", content=chunks(4, 1024))
    assert (response.status_code, response.text) == (200, "4096")


async def test_a_route_of_its_own_limit_takes_more_than_the_default() -> None:
    async with client(1024, by_path={"/upload": 8192}) as http:
        upload = await http.post("/upload", content=b"a" * 8192)
        too_much = await http.post("/upload", content=b"a" * 8193)
        other = await http.post("/v2/echo", content=b"a" * 1025)

    assert (upload.status_code, upload.text) == (200, "8192")
    assert too_much.status_code == 413
    assert "larger than 8 KiB" in too_much.text
    assert other.status_code == 413


async def test_a_body_slower_than_the_deadline_is_answered_408() -> None:
    async with client(4096, timeout=0.3, idle=0.2) as http:
        response = await http.post("/v2/echo", content=chunks(20, 1, every=0.05))

    assert response.status_code == 408
    assert response.json()["detail"] == "The request's body did not arrive within 0.3 seconds."


async def test_a_body_that_pauses_longer_than_the_idle_timeout_is_answered_408() -> None:
    async with client(4096, timeout=5, idle=0.2) as http:
        response = await http.post("/v2/echo", content=chunks(2, 1, every=1))

    assert response.status_code == 408
    assert response.json()["detail"] == "Nothing more of the request arrived for 0.2 seconds."


async def test_a_client_that_leaves_while_sending_is_answered_nothing() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app ran")

    middleware = RequestBodyMiddleware(never, timeout=5, idle_timeout=5)
    await middleware(
        {
            "type": "http",
            "method": "POST",
            "path": "/acme/flow",
            "headers": [(b"content-length", b"100")],
        },
        receive,
        send,
    )

    assert sent == []


async def test_a_request_without_a_body_goes_straight_through() -> None:
    async def receive() -> Message:
        raise AssertionError("the body was read")

    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])

    middleware = RequestBodyMiddleware(app, timeout=5, idle_timeout=5)
    await middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, None)  # type: ignore[arg-type]

    assert seen == ["/"]
