"""Structured logs with a request ID (JSON, or text at a terminal), and request metrics by route."""

from __future__ import annotations

import inspect
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
# Recorded for a request that was answered nothing because its client went away first (nginx's
# code): it is not the server's failure, and must not count among the 5xx an operator alerts on.
CLIENT_CLOSED_REQUEST = 499


LogFormat = Literal["auto", "json", "console"]


def configure_logging(
    level: str = "INFO",
    log_format: LogFormat = "auto",
    *,
    development: bool = True,
    stream: TextIO | None = None,
) -> None:
    """JSON lines for machines; coloured text for a person at a terminal in development.

    `auto` picks coloured text only when the output is a terminal and the instance runs in
    development, so production, CI and redirected output always get JSON.
    """
    stream = stream or sys.stdout
    human = log_format == "console" or (log_format == "auto" and development and stream.isatty())
    renderer: list[structlog.typing.Processor] = (
        [
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=stream.isatty()),
        ]
        if human
        else [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
    )
    logging.basicConfig(format="%(message)s", stream=stream, level=level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


class Metrics:
    """The app's own registry, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leap_connect_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leap_connect_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["method", "route"],
            registry=self.registry,
        )
        self.database_statements = Counter(
            "leap_connect_database_statements_total",
            "SQL statements this process sent to the database.",
            registry=self.registry,
        )

    def count_statements(self, engine: AsyncEngine) -> None:
        """Count every statement sent through `engine` (the journey benchmark reads it per step)."""
        counter = self.database_statements

        def sent(*_: object) -> None:
            counter.inc()

        event.listen(engine.sync_engine, "before_cursor_execute", sent)


class RequestContextMiddleware:
    """Gives every request an ID (echoed in X-Request-ID), logs it, and records its metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("leap_connect.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            # Nothing answered and nothing raised: the client left before there was an answer.
            status = status or CLIENT_CLOSED_REQUEST
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            self.log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class UnhandledErrorMiddleware:
    """Renders an unhandled error's 500 response inside the other middleware.

    Starlette answers unhandled errors from its outermost layer, past the middleware that add the
    request ID and the security headers; answering here keeps both on the 500, and its log line
    keeps the request ID. A client that went away while its request was read (ClientDisconnect) is
    no error: there is nobody to answer, and the request is recorded as 499.
    """

    def __init__(
        self, app: ASGIApp, handler: Callable[[Request, Exception], Response | Awaitable[Response]]
    ) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:
            if started:
                raise
            return
        except Exception as error:
            if started:
                raise
            response = self.handler(Request(scope, receive), error)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            # Only echo IDs that cannot smuggle anything into logs or headers.
            if 0 < len(candidate) <= 128 and all(
                c.isascii() and (c.isalnum() or c in "-_.") for c in candidate
            ):
                return candidate
    return None


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
