"""Connect restarted while UtilityAPI still collects the meters: they arrive all the same."""

from __future__ import annotations

from datetime import timedelta

from leap_connect.app import create_app
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.functional.utilityapi.conftest import (
    BUSINESS,
    METERS_DELAY,
    Clock,
    Network,
    RunJobs,
    connect_at_utilityapi,
    discovery_jobs,
    join_network,
    meters_of,
)
from tests.support.browser import Browser
from tests.support.factories import Partner


async def test_restart_between_authorization_and_meter_arrival_loses_nothing(
    browser: Browser,
    partner: Partner,
    connect: Runtime,
    settings: Settings,
    network: Network,
    clock: Clock,
    run_jobs: RunJobs,
) -> None:
    landing = await browser.open("/acme/ny-business?requestedUtilities=oru-utilityapi&refId=r-1")
    session_page = await connect_at_utilityapi(
        browser, landing, "oru-utilityapi", "commercial", **BUSINESS
    )
    await browser.submit(session_page, button=("action", "continue"))
    await run_jobs()  # one look before the restart; nothing listed yet

    # The process goes away: its engine, its connectors, everything held in memory.
    await connect.close()
    restarted = join_network(create_app(settings), network)
    try:
        clock.advance(METERS_DELAY)
        assert await run_jobs(runtime=restarted, later=timedelta(minutes=1)) == 1

        meters = await meters_of(restarted)
        assert [(m.utility_id, m.partner_reference) for m in meters] == [
            ("oru-utilityapi", "r-1")
        ] * 3
        assert [job.status for job in await discovery_jobs(restarted)] == ["DONE"]
    finally:
        await restarted.engine.dispose()
