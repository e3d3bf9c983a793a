"""Connect link targets kept in memory for a few seconds, so showing a landing page reads nothing.

A partner's e-mail campaign sends thousands of customers to the same link within minutes, and mail
scanners open it before they do. The landing page's GET takes the partner, the flow and who signs
additional terms from this process's memory for up to `LINK_TARGET_TTL` after reading them, so a
change to a flow or to the partner's branding shows on landing pages within that time. Whatever
writes (starting a connect session) reads the flow afresh, so a disabled flow never starts one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.connect.service import LinkTarget, find_link_target
from leap_connect.kit.deps import AppContext

LINK_TARGET_TTL = 5.0  # seconds
MAX_LINK_TARGETS = 1024
_CACHE = "connect.link_targets"


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

    async def get(self, org_name: str, url_friendly_title: str) -> LinkTarget:
        """The link's target, from memory if read less than `ttl` ago; NotFound if there is none."""
        key = (org_name, url_friendly_title)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key)
            return entry[1]
        async with self._sessionmaker() as session:
            target = await find_link_target(
                session, org_name=org_name, url_friendly_title=url_friendly_title
            )
        self._entries[key] = (now + self._ttl, target)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return target

    def clear(self) -> None:
        self._entries.clear()


def link_target_cache(context: AppContext) -> LinkTargetCache:
    cache = context.extras.get(_CACHE)
    if not isinstance(cache, LinkTargetCache):
        cache = context.extras[_CACHE] = LinkTargetCache(context.sessionmaker)
    return cache
