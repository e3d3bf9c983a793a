"""Link targets are read once per few seconds per process, and only links that exist are kept."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from leap_connect.connect.link_targets import LinkTargetCache
from leap_connect.connect.pages import FlowNameConvertor, PartnerNameConvertor
from leap_connect.kit.link_rules import RESERVED_NAMES
from leap_connect.kit.problems import NotFound
from leap_connect.models import ConnectFlow
from leap_connect.runtime import Runtime
from tests.support.factories import create_partner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs from now on."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)


async def test_a_target_is_read_once_until_it_expires(
    runtime: Runtime, statements: list[str]
) -> None:
    partner = await create_partner(runtime)
    clock = Clock()
    cache = LinkTargetCache(runtime.sessionmaker, ttl=5, clock=clock)
    first = await cache.get("acme", "ca-homes")
    read = len(statements)
    assert read > 0
    clock.now += 4.9
    again = await cache.get("acme", "ca-homes")
    assert again is first and len(statements) == read
    async with runtime.sessionmaker() as db, db.begin():
        flow = await db.get(ConnectFlow, partner.flow.id)
        assert flow is not None
        flow.utility_ids = ["pge"]
    statements.clear()
    clock.now += 0.2
    fresh = await cache.get("acme", "ca-homes")
    assert statements and fresh.flow.utility_ids == ["pge"]


async def test_unknown_links_are_not_remembered(runtime: Runtime) -> None:
    cache = LinkTargetCache(runtime.sessionmaker, clock=Clock())
    with pytest.raises(NotFound):
        await cache.get("acme", "ca-homes")
    await create_partner(runtime)
    target = await cache.get("acme", "ca-homes")
    assert target.organization.display_name == "Acme Energy"


async def test_the_least_recently_used_target_goes_first(
    runtime: Runtime, statements: list[str]
) -> None:
    for name in ("one", "two", "three"):
        await create_partner(runtime, name=name)
    cache = LinkTargetCache(runtime.sessionmaker, max_entries=2, clock=Clock())
    await cache.get("one", "ca-homes")
    await cache.get("two", "ca-homes")
    await cache.get("one", "ca-homes")  # now "two" is the least recently used
    await cache.get("three", "ca-homes")
    statements.clear()
    await cache.get("one", "ca-homes")
    assert statements == []
    await cache.get("two", "ca-homes")
    assert statements != []


def landing_route_takes(organization: str, flow: str = "ca-homes") -> bool:
    pattern = f"(?:{PartnerNameConvertor.regex})/(?:{FlowNameConvertor.regex})"
    return re.fullmatch(pattern, f"{organization}/{flow}") is not None


@pytest.mark.parametrize("name", ["acme", "a", "ca-homes", "x1", "a" * 63, "apis", "v22"])
def test_names_a_partner_can_have_match(name: str) -> None:
    assert landing_route_takes(name) and landing_route_takes("acme", name)


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_paths_the_app_reserves_are_not_taken_for_partners(name: str) -> None:
    assert not landing_route_takes(name)


@pytest.mark.parametrize("name", ["Acme", "-acme", "acme-", "a" * 64, "ac_me", "ac.me", "é"])
def test_names_no_partner_or_flow_can_have_are_not_taken(name: str) -> None:
    assert not landing_route_takes(name) and not landing_route_takes("acme", name)


async def test_customers_missing_the_same_link_at_once_share_one_read(
    runtime: Runtime, statements: list[str]
) -> None:
    await create_partner(runtime)
    statements.clear()
    one = await LinkTargetCache(runtime.sessionmaker, clock=Clock()).get("acme", "ca-homes")
    alone = len(statements)
    statements.clear()
    cache = LinkTargetCache(runtime.sessionmaker, clock=Clock())
    targets = await asyncio.gather(*(cache.get("acme", "ca-homes") for _ in range(20)))
    assert len(statements) == alone
    assert {target.flow.id for target in targets} == {one.flow.id}
