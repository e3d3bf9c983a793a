"""A partner's webhook receiver on 127.0.0.1, verifying every delivery with `standardwebhooks`.

It runs uvicorn in a thread, answers as a test scripts it, and keeps what it received.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/webhooks/leap-connect"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    until: threading.Event | None = None
    """Answer only once this is set (a partner's server that hangs until the test lets it go)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: dict[str, Any] | None
    """The body as `standardwebhooks` returned it after checking the signature; None if refused."""
    raw_headers: tuple[tuple[str, str], ...] = ()
    """Every header line as sent, in order, repeats included (`headers` keeps one per name)."""


class Receiver:
    """What the partner runs: answers each request with the next scripted reply (200 when none)."""

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The verified bodies, in the order they arrived."""
        return [item.verified for item in self.received if item.verified is not None]

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        raw_headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        )
        verified = None
        for secret in self.secrets:
            try:
                verified = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        with self._lock:
            self.received.append(Received(request.url.path, headers, body, verified, raw_headers))
            reply = self.script.pop(0) if self.script else Reply()
        if verified is None and request.url.path == PATH:
            return Response("signature not valid", status_code=400)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.until is not None:
            await asyncio.to_thread(reply.until.wait, 60)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    sock = free_socket()
    receiver.port = sock.getsockname()[1]
    config = uvicorn.Config(
        receiver.app(),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the webhook receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["payload"]["webhook_event_type"] for event in events]
