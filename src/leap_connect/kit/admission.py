"""Admission control: a process works on a bounded number of requests, the rest wait their turn.

Without it, a burst of customers (a partner's e-mail campaign) starts every request at once: each
takes a pooled database connection at its first query, then waits for its share of one busy CPU
among hundreds, holding the connection. The pool runs dry, the requests behind wait for a
connection past the pool's time-out, and they are answered 503. With a bound, the requests admitted
finish quickly and give their connections back, and the others queue, first come first served,
before they hold anything.

A request waits for its turn only once its body has arrived (kit/body_limit.py reads it first), so
a client that sends slowly holds a socket, never a slot.

Requests that never touch the database, or that must never queue behind the others, go straight
through: health checks and metrics (a load balancer must see a busy process as alive), static files,
and the built-in sandbox utilities (a callback waiting on the in-process sandbox must not wait for
its own turn).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

UNQUEUED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/sandbox/")


class Admission:
    """The process's request slots, and how many requests hold one or wait for one."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.limit = limit
        self.running = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(limit)  # first come, first served

    @property
    def saturated(self) -> bool:
        """Every slot taken and as many requests again waiting: each new one waits a while."""
        return self.running >= self.limit and self.waiting >= self.limit

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            await app(scope, receive, send)
        finally:
            self.running -= 1
            self._slots.release()


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNQUEUED_PREFIXES):
            await self.app(scope, receive, send)
            return
        await self.admission.run(self.app, scope, receive, send)
