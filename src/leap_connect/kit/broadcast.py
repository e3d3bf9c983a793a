"""Short messages to every process that shares one Redis (pub/sub); without Redis, none leave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("leap_connect.broadcast")

# A process that cannot subscribe in this time goes on without: what it keeps expires anyway.
SUBSCRIBE_WAIT_SECONDS = 2.0
RECONNECT_SECONDS = 1.0


class Broadcast:
    """Publishes from any process and calls each listener of a channel in every other one.

    Redis delivers a message only to those subscribed when it is sent, so a listener also says what
    to do after a gap (`on_gap`): its subscription dropped and messages may have been missed.
    """

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self._client: Redis | None = None
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self._publishing: set[asyncio.Task[None]] = set()

    def _redis(self) -> Redis:
        if self._client is None:
            assert self.redis_url is not None
            self._client = Redis.from_url(self.redis_url)
        return self._client

    def publish(self, channel: str, message: str) -> None:
        """Send `message` soon; synchronous code in the loop may call it (an after-commit hook)."""
        if self.redis_url is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish(channel, message))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, channel: str, message: str) -> None:
        try:
            await self._redis().publish(channel, message)
        except Exception as error:
            log.warning("broadcast_publish_failed", channel=channel, error=type(error).__name__)

    async def listen(
        self, channel: str, on_message: Callable[[str], None], on_gap: Callable[[], None]
    ) -> None:
        """Call `on_message` for each message on `channel` from now on (once per channel)."""
        if self.redis_url is None or channel in self._listeners:
            return
        subscribed = asyncio.Event()
        self._listeners[channel] = asyncio.get_running_loop().create_task(
            self._listen(channel, on_message, on_gap, subscribed)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), SUBSCRIBE_WAIT_SECONDS)

    async def _listen(
        self,
        channel: str,
        on_message: Callable[[str], None],
        on_gap: Callable[[], None],
        subscribed: asyncio.Event,
    ) -> None:
        while True:
            try:
                async with self._redis().pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            data = message["data"]
                            on_message(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("broadcast_listen_failed", channel=channel, error=type(error).__name__)
            on_gap()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def aclose(self) -> None:
        if self._publishing:  # a revocation just committed is still worth sending
            await asyncio.wait(self._publishing, timeout=RECONNECT_SECONDS)
        for task in [*self._listeners.values(), *self._publishing]:
            task.cancel()
        for task in [*self._listeners.values(), *self._publishing]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listeners.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
