"""Each utility gets its own authorization request: PG&E's Share My Data parameters, standard ESPI
for SCE, against a Green Button server in another process configured only by variables."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from leap_connect.models import utc_now
from tests.functional.test_external_utility import DETAILS, seed, stored
from tests.support.browser import Browser, Page
from tests.support.sandbox import pge_variables, sandbox_process
from tests.support.server import free_port, leap_connect_server

PGE_SCOPE = re.compile(r"MinAuthEndDate=(\d+);PreferredAuthEndDate=(\d+)")


async def go_to_utility(base_url: str, sandbox_root: str, utility_id: str) -> tuple[Browser, Page]:
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    browser = Browser(client, also_follow=(sandbox_root,))
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities={utility_id}&refId=r-1")
    at_utility = await browser.submit(landing, button=("utility_id", utility_id), fields=DETAILS)
    return browser, at_utility


async def approve(browser: Browser, at_utility: Page) -> Page:
    try:
        return await browser.submit(
            at_utility,
            button=("decision", "approve"),
            fields={"username": "residential", "password": "sandbox"},
        )
    finally:
        await browser.client.aclose()


def request_of(page: Page) -> dict[str, list[str]]:
    """The authorization request as the utility received it (the consent page's own URL)."""
    return parse_qs(urlsplit(page.url).query, keep_blank_values=True)


async def test_pge_gets_share_my_data_parameters_and_sce_standard_espi_from_one_server(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with sandbox_process(tmp_path, app_base, utilities=("pge", "sce")) as pge_sandbox:
        sandbox_root = pge_sandbox.split("/sandbox/")[0]
        sce_sandbox = f"{sandbox_root}/sandbox/sce"
        variables = {
            **pge_variables(pge_sandbox),
            **pge_variables(sce_sandbox, utility_id="sce"),
            "LEAP_CONNECT_BASE_URL": app_base,
        }
        with leap_connect_server(database_url, tmp_path, variables, port=port):
            modes = {
                u["utility_id"]: u["mode"] for u in httpx.get(sandbox_root).json()["utilities"]
            }
            assert modes == {"pge": "pge", "sce": "espi", "sdge": "espi"}

            sent_at = utc_now()
            browser, at_pge = await go_to_utility(app_base, sandbox_root, "pge")
            assert at_pge.status == 200 and at_pge.url.startswith(pge_sandbox), at_pge.url
            pge_request = request_of(at_pge)
            pge_done = await approve(browser, at_pge)

            browser, at_sce = await go_to_utility(app_base, sandbox_root, "sce")
            assert at_sce.status == 200 and at_sce.url.startswith(sce_sandbox), at_sce.url
            sce_request = request_of(at_sce)
            sce_done = await approve(browser, at_sce)

    assert set(pge_request) == {
        "client_id",
        "redirect_uri",
        "response_type",
        "state",
        "login",
        "scope",
    }
    assert pge_request["response_type"] == ["code"] and pge_request["login"] == ["guest"]
    match = PGE_SCOPE.fullmatch(pge_request["scope"][0])
    assert match, pge_request["scope"]
    minimum, preferred = (datetime.fromtimestamp(int(v), UTC) for v in match.groups())
    # The flow wishes 12 months; the shortest it accepts is a month.
    assert timedelta(days=364) <= preferred - sent_at <= timedelta(days=367)
    assert timedelta(days=29) <= minimum - sent_at <= timedelta(days=31)
    assert pge_done.status == 200 and urlsplit(pge_done.url).path.startswith("/connect/sessions/")

    assert sce_request["scope"][0].startswith("FB=")
    assert sce_request["code_challenge_method"] == ["S256"] and "login" not in sce_request
    assert sce_done.status == 200 and urlsplit(sce_done.url).path.startswith("/connect/sessions/")

    meters, attempts = await stored(database_url)
    assert sorted(m.utility_id for m in meters) == ["pge", "sce"]
    pge_attempt = next(a for a in attempts if a.utility_id == "pge")
    # PG&E's Authorization resource says the customer granted until the preferred end date.
    assert pge_attempt.expires_at is not None
    assert abs(pge_attempt.expires_at - preferred) < timedelta(seconds=1)


async def test_a_profile_changed_by_configuration_is_what_the_utility_receives(
    database_url: str, tmp_path: Path
) -> None:
    """Sent an ESPI scope by configuration, the PG&E-mode server sends the customer back with
    invalid_request, as PG&E does; the customer is told the utility could not read the request."""
    await seed(database_url)
    port = free_port()
    app_base = f"http://127.0.0.1:{port}"
    with sandbox_process(tmp_path, app_base) as pge_sandbox:
        variables = {
            **pge_variables(pge_sandbox),
            "LEAP_CONNECT_UTILITIES__PGE__SCOPE_FORMAT": "espi",
            "LEAP_CONNECT_UTILITIES__PGE__AUTHORIZATION_PARAMETERS": "",
            "LEAP_CONNECT_BASE_URL": app_base,
        }
        with leap_connect_server(database_url, tmp_path, variables, port=port):
            browser, back = await go_to_utility(app_base, pge_sandbox.split("/sandbox/")[0], "pge")
            await browser.client.aclose()
    assert back.status == 502 and "We could not complete this connection" in back.text
    _, attempts = await stored(database_url)
    assert [(a.status, a.error_code) for a in attempts] == [("FAILED", "invalid_request")]
