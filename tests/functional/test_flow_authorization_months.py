"""A flow says how long it wishes customers' permission to last; PG&E is asked for exactly that."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from leap_connect.models import ConnectFlow
from leap_connect.runtime import Runtime
from tests.functional.test_cli import FLOW_OPTIONS, Run, leap_connect  # noqa: F401 - fixture
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, Partner


async def test_pge_is_asked_for_the_flows_wished_months(
    browser: Browser, partner: Partner, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        flow = await session.get(ConnectFlow, partner.flow.id)
        assert flow is not None and flow.authorization_months == 12
        flow.authorization_months = 3
    landing = await browser.open("/acme/ca-homes?requestedUtilities=pge&refId=r-3")
    sent_at = datetime.now(UTC)
    at_pge = await browser.submit(landing, button=("utility_id", "pge"), fields=RESIDENTIAL_DETAILS)
    (scope,) = parse_qs(urlsplit(at_pge.url).query)["scope"]
    match = re.fullmatch(r"MinAuthEndDate=(\d+);PreferredAuthEndDate=(\d+)", scope)
    assert match, scope
    preferred = datetime.fromtimestamp(int(match.group(2)), UTC)
    assert 89 <= (preferred - sent_at).days <= 92  # three calendar months on


def test_the_cli_sets_the_months_and_refuses_impossible_ones(leap_connect: Run) -> None:  # noqa: F811
    assert leap_connect("orgs", "create", "acme", "--display-name", "Acme").returncode == 0
    made = leap_connect(
        "flows", "create", "acme", "ca-homes", *FLOW_OPTIONS, "--authorization-months", "6"
    )
    assert made.returncode == 0, made.stderr
    refused = leap_connect(
        "flows", "create", "acme", "ca-long", *FLOW_OPTIONS, "--authorization-months", "0"
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: A customer's permission can last 1 to 120 months")
