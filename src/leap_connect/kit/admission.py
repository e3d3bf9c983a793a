"""Admission control: a process works on a bounded number of requests, the rest wait their turn.

Without it, a burst of customers (a partner's e-mail campaign) starts every request at once: each
takes a pooled database connection at its first query, then waits for its share of one busy CPU
among hundreds, holding the connection. The pool runs dry, the requests behind wait for a
connection past the pool's time-out, and they are answered 503. With a bound, the requests admitted
finish quickly and give their connections back, and the others queue, first come first served,
before they hold anything.

Requests that never touch the database, or that must never queue behind the others, go straight
through: health checks and metrics (a load balancer must see a busy process as alive), static files,
and the built-in sandbox utilities (a callback waiting on the in-process sandbox must not wait for
its own turn).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

UNQUEUED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/sandbox/")


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.app = app
        self._slots = asyncio.Semaphore(limit)  # first come, first served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNQUEUED_PREFIXES):
            await self.app(scope, receive, send)
            return
        async with self._slots:
            await self.app(scope, receive, send)
