"""A process works on a bounded number of requests; the rest wait in arrival order."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Receive, Scope, Send

from leap_connect.kit.admission import Admission, AdmissionMiddleware


class HeldApp:
    """Records which requests are running and holds each until released."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.started: list[str] = []
        self.most_at_once = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        self.running.append(path)
        self.started.append(path)
        queued = [running for running in self.running if not running.startswith("/healthz")]
        self.most_at_once = max(self.most_at_once, len(queued))
        try:
            if not path.startswith("/healthz"):
                await self.release.wait()
        finally:
            self.running.remove(path)


def request(path: str) -> Scope:
    return {"type": "http", "path": path, "method": "GET", "headers": []}


async def nothing() -> dict[str, str]:
    return {"type": "http.request"}


async def ignore(_message: object) -> None:
    return None


async def test_requests_beyond_the_limit_wait_and_start_in_arrival_order() -> None:
    held = HeldApp()
    admission = Admission(2)
    app = AdmissionMiddleware(held, admission=admission)
    paths = [f"/acme/flow-{n}" for n in range(5)]
    tasks = []
    for path in paths:
        tasks.append(asyncio.create_task(app(request(path), nothing, ignore)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert held.running == paths[:2]
    assert (admission.running, admission.waiting, admission.saturated) == (2, 3, True)

    # A health check is answered while every slot is taken.
    await asyncio.wait_for(app(request("/healthz"), nothing, ignore), timeout=5)

    held.release.set()
    await asyncio.gather(*tasks)
    assert held.most_at_once == 2
    assert [path for path in held.started if path != "/healthz"] == paths
    assert (admission.running, admission.waiting, admission.saturated) == (0, 0, False)


async def test_every_slot_taken_is_not_saturated_until_as_many_wait() -> None:
    held = HeldApp()
    admission = Admission(2)
    app = AdmissionMiddleware(held, admission=admission)
    tasks = [
        asyncio.create_task(app(request(f"/acme/flow-{n}"), nothing, ignore)) for n in range(3)
    ]
    await asyncio.sleep(0.01)
    assert (admission.running, admission.waiting, admission.saturated) == (2, 1, False)

    tasks.append(asyncio.create_task(app(request("/acme/flow-3"), nothing, ignore)))
    await asyncio.sleep(0.01)
    assert admission.saturated

    held.release.set()
    await asyncio.gather(*tasks)


async def test_a_request_cancelled_while_it_waits_leaves_no_trace() -> None:
    held = HeldApp()
    admission = Admission(1)
    app = AdmissionMiddleware(held, admission=admission)
    running = asyncio.create_task(app(request("/acme/first"), nothing, ignore))
    waiting = asyncio.create_task(app(request("/acme/second"), nothing, ignore))
    await asyncio.sleep(0.01)

    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert (admission.running, admission.waiting) == (1, 0)

    held.release.set()
    await running
    assert (admission.running, admission.waiting) == (0, 0)
    assert held.started == ["/acme/first"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0)
