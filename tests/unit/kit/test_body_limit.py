"""The body limit: declared or streamed, a body over the limit never reaches the app's answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leap_connect.kit.body_limit import BodySizeLimitMiddleware


async def echo_length(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def client(limit: int) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/v2/echo", echo_length, methods=["POST"])])
    wrapped = BodySizeLimitMiddleware(app, max_bytes=limit)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://test")


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"z" * size


async def test_body_within_the_limit_reaches_the_app() -> None:
    async with client(1000) as http:
        response = await http.post("/v2/echo", content=b"a" * 1000)
    assert (response.status_code, response.text) == (200, "1000")


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async with client(1000) as http:
        response = await http.post("/v2/echo", content=b"a" * 1001)
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 1000 bytes."


async def test_streamed_body_over_the_limit_is_refused() -> None:
    async with client(4096) as http:
        response = await http.post("/v2/echo", content=chunks(10, 1024))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_streamed_body_within_the_limit_reaches_the_app() -> None:
    async with client(4096) as http:
        response = await http.post("/v2/echo", content=chunks(4, 1024))
    assert (response.status_code, response.text) == (200, "4096")
