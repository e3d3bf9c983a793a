"""Rate limits per caller with the `limits` library: in process memory, or a store shared by all."""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = structlog.get_logger("leap_connect.ratelimit")

DEFAULT_API_RATE_LIMIT = "1200/minute"


class RateLimitSettings(BaseSettings):
    """`LEAP_CONNECT_API_RATE_LIMIT` (e.g. `20/second;1200/minute`) and where counts are kept.

    The default store is this process's memory, or `LEAP_CONNECT_REDIS_URL` when set; with
    several `serve` processes, the store must be shared (`redis://…`) so they count together.
    """

    model_config = SettingsConfigDict(env_prefix="LEAP_CONNECT_", extra="ignore")

    api_rate_limit: str = DEFAULT_API_RATE_LIMIT
    rate_limit_storage_uri: str = ""
    redis_url: str | None = None

    @model_validator(mode="after")
    def _store_defaults_to_redis(self) -> RateLimitSettings:
        if not self.rate_limit_storage_uri:
            self.rate_limit_storage_uri = self.redis_url or "memory://"
        return self

    @field_validator("api_rate_limit")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_many(value)  # raises ValueError naming what it cannot read
        return value


class RateLimiter:
    """Counts hits per key in a sliding window; `hit` says how long to wait once a limit is spent.

    By default a sliding window counter (two counters a key), which is cheap but approximate: it
    weighs the previous window's hits, so near a window's edge a few more may pass. `exact` keeps a
    timestamp a hit (a moving window) for limits that must hold to the hit, such as sign-in; in
    memory its expiry sweeps each key in a worker thread on every hit, too slow for the API.
    """

    def __init__(self, limit: str, storage_uri: str = "memory://", *, exact: bool = False) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        scheme = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        # `limits` talks to Redis with coredis by default; redis-py is the one Redis client here.
        options = {"implementation": "redispy"} if "redis" in scheme.split("://")[0] else {}
        storage = storage_from_string(scheme, **options)
        self.strategy: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter = (
            MovingWindowRateLimiter(storage) if exact else SlidingWindowCounterRateLimiter(storage)
        )

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> RateLimiter:
        return cls(settings.api_rate_limit, settings.rate_limit_storage_uri)

    async def spent(self, namespace: str, key: str) -> bool:
        """Whether a limit is spent for `key`, without counting a hit."""
        try:
            for item in self.items:
                if not await self.strategy.test(item, namespace, key):
                    return True
        except Exception as error:
            log.warning("rate_limit_store_unavailable", error=type(error).__name__)
        return False

    async def hit(self, namespace: str, key: str) -> int | None:
        """Count one hit; None if it is allowed, else the seconds until the next would be."""
        try:
            for item in self.items:
                if not await self.strategy.hit(item, namespace, key):
                    stats = await self.strategy.get_window_stats(item, namespace, key)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as error:
            # A shared store that is down must not take the API down with it: fail open, loudly.
            log.warning("rate_limit_store_unavailable", error=type(error).__name__)
        return None
