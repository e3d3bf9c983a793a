"""A client that leaves before it is answered is no server error: nothing sent, 499 counted."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from leap_connect.kit.observability import (
    Metrics,
    RequestContextMiddleware,
    UnhandledErrorMiddleware,
)


async def leaves_mid_form(scope: Scope, receive: Receive, send: Send) -> None:
    await Request(scope, receive).form()


async def explodes(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


def error_page(request: Request, error: Exception) -> Response:
    return PlainTextResponse("error page", status_code=500)


async def run(app: object) -> tuple[list[Message], str]:
    metrics = Metrics()
    stack = RequestContextMiddleware(UnhandledErrorMiddleware(app, error_page), metrics)  # type: ignore[arg-type]
    arriving: list[Message] = [{"type": "http.request", "body": b"name=Ad", "more_body": True}]
    sent: list[Message] = []

    async def receive() -> Message:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/acme/flow",
        "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    await stack(scope, receive, send)
    samples = [
        sample
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "leap_connect_http_requests_total"
    ]
    return sent, ",".join(sample.labels["status"] for sample in samples)


async def test_a_client_that_leaves_mid_form_is_answered_nothing_and_counted_499() -> None:
    sent, statuses = await run(leaves_mid_form)

    assert sent == []
    assert statuses == "499"


async def test_an_unexpected_error_is_still_a_500() -> None:
    sent, statuses = await run(explodes)

    assert [message.get("status") for message in sent][:1] == [500]
    assert statuses == "500"
