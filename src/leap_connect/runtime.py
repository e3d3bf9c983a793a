"""The long-lived objects of one process, whether it serves requests or runs jobs.

`create_app` and the worker each build one `Runtime`, and everything a request or a job needs
beyond its own database session is read from it by name. What a domain keeps in memory for the
life of the process (a cache of link targets, a count of opened links, a sign-in limiter) is
defined by that domain, which this module does not import; `keep` holds one of each such kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leap_connect.db import create_engine, create_sessionmaker
from leap_connect.kit.broadcast import Broadcast
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.http import HttpClientFactory
from leap_connect.kit.observability import Metrics
from leap_connect.kit.ratelimit import RateLimiter, RateLimitSettings
from leap_connect.settings import Settings
from leap_connect.utilities.connector import Connector
from leap_connect.utilities.connectors import build_connectors

Kept = TypeVar("Kept")


@dataclass(eq=False)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    # Sessions for writes: the caller commits at its end.
    sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions whose statements each commit by themselves: a one-statement read is one round
    # trip to the database instead of three (BEGIN, the read, COMMIT).
    read_sessionmaker: async_sessionmaker[AsyncSession]
    encryptor: Encryptor
    http: HttpClientFactory
    connectors: Mapping[str, Connector]
    metrics: Metrics
    # Per API key; tests may put a stricter one in.
    api_limiter: RateLimiter
    # Messages to the other processes (through LEAP_CONNECT_REDIS_URL); without it, none leave.
    broadcast: Broadcast
    _kept: dict[type, object] = field(default_factory=dict, init=False, repr=False)

    @property
    def secret_key(self) -> str:
        return self.settings.secret_key.get_secret_value()

    def keep(self, kind: type[Kept], make: Callable[[], Kept]) -> Kept:
        """The process's one `kind`, made by `make` the first time it is asked for."""
        kept = self._kept.get(kind)
        if kept is None:
            kept = self._kept[kind] = make()
        assert isinstance(kept, kind)
        return kept

    def put(self, kept: object) -> None:
        """Use `kept` as the process's one of its kind from now on (tests, mostly)."""
        self._kept[type(kept)] = kept

    async def release(self) -> None:
        """Close the kept objects that hold something open (those with an `aclose`)."""
        for kept in self._kept.values():
            aclose = getattr(kept, "aclose", None)
            if aclose is not None:
                await aclose()
        self._kept.clear()

    async def close(self) -> None:
        """Release the kept objects, then the database pool: the process is done with both."""
        await self.release()
        await self.broadcast.aclose()
        await self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    engine = create_engine(settings.resolved_database_url, pool=settings.database_pool)
    http = HttpClientFactory(timeout=settings.http_timeout_seconds)
    metrics = Metrics()
    metrics.count_statements(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        read_sessionmaker=create_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        ),
        encryptor=Encryptor(settings.encryption_keys.get_secret_value()),
        http=http,
        connectors=build_connectors(settings, http),
        metrics=metrics,
        api_limiter=RateLimiter.from_settings(RateLimitSettings()),
        broadcast=Broadcast(settings.redis_url),
    )
