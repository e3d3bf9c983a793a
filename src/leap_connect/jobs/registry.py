"""Job handlers by kind: the decorators that register them and the context they receive."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import leap_connect
from leap_connect.jobs.retry import Backoff, default_backoff
from leap_connect.models import Job
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings

KIND_MAX_LENGTH = 60  # jobs.kind is a VARCHAR(60)


@dataclass
class JobContext:
    """What a handler works with while its job runs.

    `session` is in a transaction that commits together with marking the job done, and rolls back
    if the handler raises: write through it, never commit it. `sessionmaker` is for the rare write
    that must survive a failure (e.g. recording a delivery attempt). `job` is a detached copy of the
    row, for reading `id`, `attempts` and `created_at`. `runtime` holds the process's long-lived
    objects (settings, utility connectors, HTTP clients).

    A handler that sets `run_again_at` has the job enqueued again for then (same kind, payload and
    dedupe key) in the commit that marks this run done: for work that comes in batches.
    """

    session: AsyncSession
    job: Job
    runtime: Runtime
    worker_id: str
    run_again_at: datetime | None = None

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.runtime.sessionmaker


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


class RetryLater(Exception):
    """Raise from a handler to run the job again after `delay` without using up an attempt.

    For waiting on something outside ("the utility has not listed the meters yet"). The handler's
    writes are rolled back as for any exception. A handler that could wait forever should give up
    on its own, e.g. once `context.job.created_at` is old enough.
    """

    def __init__(self, delay: timedelta, reason: str = "not ready yet") -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    kind: str
    handler: JobHandler
    backoff: Backoff
    every: timedelta | None = None

    @property
    def periodic_dedupe_key(self) -> str:
        return periodic_dedupe_key(self.kind)


def periodic_dedupe_key(kind: str) -> str:
    return f"periodic:{kind}"


class Registry:
    """Handlers by job kind. The app uses the module-level `registry`; tests may make their own."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def handler(
        self, kind: str, *, backoff: Backoff | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        return self._register(kind, backoff=backoff, every=None)

    def periodic(
        self, kind: str, *, every: timedelta, backoff: Backoff | None = None
    ) -> Callable[[JobHandler], JobHandler]:
        if every <= timedelta(0):
            raise ValueError(f"job kind {kind!r}: `every` must be positive")
        return self._register(kind, backoff=backoff, every=every)

    def get(self, kind: str) -> HandlerSpec | None:
        return self._specs.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._specs)

    def periodic_specs(self) -> list[HandlerSpec]:
        return [spec for spec in self._specs.values() if spec.every is not None]

    def _register(
        self, kind: str, *, backoff: Backoff | None, every: timedelta | None
    ) -> Callable[[JobHandler], JobHandler]:
        if not kind or len(kind) > KIND_MAX_LENGTH:
            raise ValueError(f"job kind {kind!r} must be 1 to {KIND_MAX_LENGTH} characters")

        def register(handler: JobHandler) -> JobHandler:
            existing = self._specs.get(kind)
            # Importing a module twice (reload, tests) registers the same function again: harmless.
            if existing is not None and _name(existing.handler) != _name(handler):
                raise ValueError(
                    f"job kind {kind!r} already has a handler: {_name(existing.handler)}"
                )
            self._specs[kind] = HandlerSpec(kind, handler, backoff or default_backoff, every)
            return handler

        return register


def _name(handler: JobHandler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"


registry = Registry()


def job_handler(kind: str, *, backoff: Backoff | None = None) -> Callable[[JobHandler], JobHandler]:
    """Register the decorated coroutine as the handler of `kind` jobs.

    `backoff(failed_attempts)` says how long to wait before retrying; the default doubles from
    15 seconds up to an hour, with jitter.
    """
    return registry.handler(kind, backoff=backoff)


def periodic_job(
    kind: str, *, every: timedelta, backoff: Backoff | None = None
) -> Callable[[JobHandler], JobHandler]:
    """Register a handler that runs about every `every`, on one worker at a time.

    Workers enqueue it when they start (deduplicated, so one is ever waiting) and, each time it
    finishes or finally fails, enqueue the next run `every` later. Its payload is `{}`.
    """
    return registry.periodic(kind, every=every, backoff=backoff)


JOB_MODULES_VARIABLE = "LEAP_CONNECT_JOB_MODULES"


def import_handler_modules(extra_modules: str | None = None) -> list[str]:
    """Import every `leap_connect.<feature>.tasks` module, then the comma-separated extra ones.

    Handlers register themselves when their module is imported, so a worker must import them all
    before it claims a job it would otherwise fail as unknown. Extra modules (from
    LEAP_CONNECT_JOB_MODULES) are for handlers outside the package, e.g. in tests.
    """
    names = [
        f"{leap_connect.__name__}.{module.name}.tasks"
        for module in pkgutil.iter_modules(leap_connect.__path__)
        if module.ispkg
    ]
    names = [name for name in names if importlib.util.find_spec(name) is not None]
    names += [name.strip() for name in (extra_modules or "").split(",") if name.strip()]
    for name in names:
        importlib.import_module(name)
    return names
