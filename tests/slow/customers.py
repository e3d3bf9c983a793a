"""Simulated customers doing journeys at once, and the record of what each one saw.

The record is what the database is checked against afterwards: a journey that reached the
partner's thank-you page must be stored whole, one that a `503` interrupted may have been stored up
to the step that answered it and no further, and nothing may be stored that no customer started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from leap_connect.models import ConnectSession, Meter, UtilityAuthorization
from tests.support.journeys import journey, journey_step

# The journey's requests to Leap Connect, in order; the sandbox utility's own pages come between
# the choice of utility and the callback.
STEPS = ("landing", "choose utility", "callback", "session page", "finish")


@dataclass
class Seen:
    step: str
    status: int
    retry_after: str | None
    seconds: float
    at: float  # time.monotonic() when the answer came
    says: str = ""  # what an error page said to the customer


@dataclass
class CustomerJourney:
    """One journey under its own refId: a customer whose journey is interrupted starts a new one."""

    ref_id: str
    # Each customer is a utility customer of their own (the sandbox's `residential+tag`), whose
    # one meter each of their journeys connects again: no two customers write the same meter.
    username: str
    seen: list[Seen] = field(default_factory=list)
    completed: bool = False

    @property
    def interrupted_at(self) -> str | None:
        """The step a `503` stopped, if one did."""
        if self.completed or not self.seen or self.seen[-1].status != 503:
            return None
        return self.seen[-1].step

    def reached(self, step: str) -> bool:
        return any(STEPS.index(seen.step) >= STEPS.index(step) for seen in self.seen)


@dataclass
class Customers:
    """Customers on `base`, each doing journeys one after another while `keep_going()` holds."""

    base: str
    sandbox: str
    # How long a customer waits for a page before giving up (a failure).
    patience: float = 60
    journeys: list[CustomerJourney] = field(default_factory=list)
    # Anything but a finished journey or a 503 with Retry-After: error responses, time-outs.
    failures: list[str] = field(default_factory=list)
    _transport: httpx.AsyncHTTPTransport = field(init=False, repr=False)

    async def run(self, count: int, keep_going: Callable[[], bool]) -> None:
        # One transport for all: a client with a transport of its own per journey would build a
        # TLS context each time (the CA store read again), which made this process, not the
        # server, the bottleneck. Cookies still belong to each journey's own client.
        # No keep-alive: a connection reused just as uvicorn's keep-alive time-out closes it fails
        # with ReadError (a browser retries; httpx does not), and a busy client often hits that.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncHTTPTransport(limits=limits) as self._transport:
            await asyncio.gather(*(self._customer(n, keep_going) for n in range(count)))

    async def _customer(self, number: int, keep_going: Callable[[], bool]) -> None:
        round_ = 0
        while round_ == 0 or keep_going():
            round_ += 1
            record = CustomerJourney(f"c{number}-{round_}", f"residential+c{number}")
            self.journeys.append(record)
            await self._journey(record)
            if record.interrupted_at:
                await asyncio.sleep(1)  # "please try again in a few seconds"

    async def _journey(self, record: CustomerJourney) -> None:
        async def started(request: httpx.Request) -> None:
            request.extensions["started"] = time.monotonic()

        async def seen(response: httpx.Response) -> None:
            request = response.request
            if not str(request.url).startswith(self.base):
                return  # the sandbox utility's pages
            retry_after = response.headers.get("retry-after")
            now = time.monotonic()
            elapsed = now - request.extensions["started"]
            says = ""
            if response.status_code >= 400:
                await response.aread()
                says = response.text
            record.seen.append(
                Seen(
                    journey_step(request.method, request.url.path),
                    response.status_code,
                    retry_after,
                    elapsed,
                    now,
                    says,
                )
            )
            if response.status_code >= 400 and not (response.status_code == 503 and retry_after):
                self.failures.append(f"{response.status_code} {request.method} {request.url}")

        hooks = {"request": [started], "response": [seen]}
        failures_before = len(self.failures)
        # Not closed: closing a client closes its transport, which every customer shares.
        client = httpx.AsyncClient(
            base_url=self.base, timeout=self.patience, event_hooks=hooks, transport=self._transport
        )
        try:
            await journey(client, self.sandbox, record.ref_id, username=record.username)
        except AssertionError as error:
            if not record.interrupted_at and len(self.failures) == failures_before:
                self.failures.append(f"{record.ref_id}: {str(error)[:300]}")
            return
        except httpx.HTTPError as error:
            self.failures.append(f"{record.ref_id}: {type(error).__name__} {error.request.url}")
            return
        record.completed = True

    @property
    def completed(self) -> list[str]:
        return [record.ref_id for record in self.journeys if record.completed]

    def summary(self, seconds: float) -> str:
        statuses = Counter(seen.status for record in self.journeys for seen in record.seen)
        lines = [
            f"{len(self.completed)} journeys completed, "
            f"{sum(1 for r in self.journeys if r.interrupted_at)} interrupted by a 503, "
            f"in {seconds:.1f} s; responses by status: {dict(sorted(statuses.items()))}"
        ]
        for step in STEPS:
            times = sorted(s.seconds for r in self.journeys for s in r.seen if s.step == step)
            if times:
                lines.append(
                    f"  {step:<15} {len(times):>6} requests, p50 {_at(times, 0.5):6.2f} s, "
                    f"p99 {_at(times, 0.99):6.2f} s, max {times[-1]:6.2f} s"
                )
        return "\n".join(lines)


def _at(ordered: list[float], quantile: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))]


def assert_accounted_for(
    customers: Customers,
    sessions: list[ConnectSession],
    attempts: list[UtilityAuthorization],
    meters: list[Meter],
    meter_references: dict[uuid.UUID, set[str]],
) -> None:
    """Every stored session, attempt and meter reference is one a customer's journey explains."""
    by_ref = {record.ref_id: record for record in customers.journeys}
    references = {ref for meter in meters for ref in meter_references[meter.id]}
    sessions_by_ref: dict[str, list[ConnectSession]] = {}
    for session in sessions:
        sessions_by_ref.setdefault(session.partner_reference or "", []).append(session)
    attempts_by_session: dict[uuid.UUID, list[UtilityAuthorization]] = {}
    for attempt in attempts:
        attempts_by_session.setdefault(attempt.connect_session_id, []).append(attempt)

    unexplained = set(sessions_by_ref) - set(by_ref)
    assert not unexplained, f"sessions no customer started: {sorted(unexplained)[:10]}"
    assert references <= set(by_ref), sorted(references - set(by_ref))[:10]
    # One meter per customer, under the refIds of that customer's journeys only.
    for meter in meters:
        owners = {by_ref[ref].username for ref in meter_references[meter.id]}
        assert len(owners) <= 1, (meter.id, owners)
    for ref_id, record in by_ref.items():
        found = sessions_by_ref.get(ref_id, [])
        assert len(found) <= 1, (ref_id, len(found))
        session = found[0] if found else None
        tried = attempts_by_session.get(session.id, []) if session else []
        assert len(tried) <= 1, (ref_id, [a.status for a in tried])
        attempt = tried[0] if tried else None
        if record.completed:
            assert session and session.status == "COMPLETED", (ref_id, session)
            assert attempt and (
                attempt.status == "COMPLETED"
                or (attempt.status == "REVOKED" and authorized_again(customers, record))
            ), (ref_id, attempt.status if attempt else None)
            assert ref_id in references, ref_id
            continue
        assert record.interrupted_at, f"{ref_id} neither finished nor was interrupted"
        # Stored no further than the interrupted step may have written before its answer was lost.
        if session is not None:
            assert record.reached("choose utility"), (ref_id, record.seen)
        if attempt is not None and attempt.status == "COMPLETED":
            assert record.reached("callback"), (ref_id, record.seen)
        if ref_id in references:  # recorded, perhaps replaced since by a newer grant
            assert attempt is not None and attempt.status in ("COMPLETED", "REVOKED"), ref_id
        if session is not None and session.status == "COMPLETED":
            assert record.interrupted_at == "finish", (ref_id, record.seen)


def authorized_again(customers: Customers, record: CustomerJourney) -> bool:
    """Whether the same utility customer came back from the utility in another journey: a grant
    that replaces this one (recorded at once, or by the worker when a 503 interrupted it)."""
    return any(
        other is not record and other.username == record.username and other.reached("callback")
        for other in customers.journeys
    )
