"""Connect link targets kept in memory for a few seconds, so showing a landing page reads nothing.

A partner's e-mail campaign sends thousands of customers to the same link within minutes, and mail
scanners open it before they do. The landing page's GET takes the partner, the flow and who signs
additional terms from this process's memory for up to `LINK_TARGET_TTL` after reading them, so a
change to a flow or to the partner's branding shows on landing pages within that time. Whatever
writes (starting a connect session) reads the flow afresh, so a disabled flow never starts one.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.connect.service import LinkTarget, find_link_target
from leap_connect.runtime import Runtime

LINK_TARGET_TTL = 5.0  # seconds
MAX_LINK_TARGETS = 1024


class LinkTargetCache:
    """Found link targets by (organization name, URL-friendly title), least recently used first.

    The organization and flow it holds are detached from their session: read them, never change
    them. Unknown links are not remembered, so a new flow works at once.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        ttl: float = LINK_TARGET_TTL,
        max_entries: int = MAX_LINK_TARGETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, LinkTarget]] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Task[LinkTarget]] = {}

    async def get(self, org_name: str, url_friendly_title: str) -> LinkTarget:
        """The link's target, from memory if read less than `ttl` ago; NotFound if there is none.

        Requests that miss the same link at once share one read, so a popular link's expiry
        costs one round of queries, not one per waiting customer.
        """
        key = (org_name, url_friendly_title)
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            self._entries.move_to_end(key)
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.create_task(self._load(key))
            loading.add_done_callback(partial(self._loaded, key))
        # Shielded: a customer who goes away must not cancel the read the others wait for.
        return await asyncio.shield(loading)

    async def _load(self, key: tuple[str, str]) -> LinkTarget:
        org_name, url_friendly_title = key
        async with self._sessionmaker() as session:
            target = await find_link_target(
                session, org_name=org_name, url_friendly_title=url_friendly_title
            )
        self._entries[key] = (self._clock() + self._ttl, target)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return target

    def _loaded(self, key: tuple[str, str], task: asyncio.Task[LinkTarget]) -> None:
        self._loading.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter went away


def link_target_cache(runtime: Runtime) -> LinkTargetCache:
    return runtime.keep(LinkTargetCache, lambda: LinkTargetCache(runtime.sessionmaker))
