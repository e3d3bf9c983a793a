"""The sandbox data custodian in PG&E's mode: Share My Data's authorization request, as strict as
PG&E's published rules, and the grants' lifecycle (end dates, re-authorization, revocation)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import defusedxml.ElementTree as DefusedET
import httpx
import pytest

from leap_connect.sandbox.green_button import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    CustodianMode,
    DataCustodian,
    RegisteredClient,
    create_sandbox_app,
)
from tests.unit.sandbox.test_green_button import (
    BASE,
    CUSTODIAN_BASE,
    ESPI,
    NOW,
    OTHER_CLIENT,
    REDIRECT_URI,
    SCOPE,
    FakeClock,
    basic,
    bearer,
    read_form,
    submit_consent,
)

MINIMUM = NOW + timedelta(days=30)
PREFERRED = NOW + timedelta(days=365)
PGE_SCOPE = (
    f"MinAuthEndDate={int(MINIMUM.timestamp())};PreferredAuthEndDate={int(PREFERRED.timestamp())}"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def custodian(clock: FakeClock) -> DataCustodian:
    return DataCustodian(
        "pge",
        public_base_url=CUSTODIAN_BASE,
        clients=[
            RegisteredClient(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, (REDIRECT_URI,)),
            OTHER_CLIENT,
        ],
        clock=clock,
        mode=CustodianMode.PGE,
    )


@pytest.fixture
async def http(custodian: DataCustodian) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app([custodian]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def pge_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "state": "state-123",
        "login": "guest",
        "scope": PGE_SCOPE,
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


async def authorize(http: httpx.AsyncClient, username: str = "residential") -> str:
    page = await http.get("/sandbox/pge/oauth/authorize", params=pge_params())
    assert page.status_code == 200, page.text
    answer = await submit_consent(http, page, username=username)
    assert answer.status_code == 303
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


async def exchange(http: httpx.AsyncClient, code: str) -> dict[str, str]:
    answer = await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": basic()},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, str] = answer.json()
    return body


async def client_token(http: httpx.AsyncClient) -> str:
    answer = await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic()},
    )
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


async def authorization_status(http: httpx.AsyncClient, authorization_uri: str) -> str:
    answer = await http.get(authorization_uri, headers=bearer(await client_token(http)))
    assert answer.status_code == 200
    root = DefusedET.fromstring(answer.content)
    return str(root.findtext(f".//{ESPI}Authorization/{ESPI}status"))


async def test_the_documented_request_is_shown_and_the_code_exchanged_without_pkce(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/sandbox/pge/oauth/authorize", params=pge_params())
    assert page.status_code == 200
    assert "Until June 15, 2026" in page.text  # the preferred end, in the customer's words
    assert "code_challenge" not in read_form(page).fields
    tokens = await exchange(http, await authorize(http))
    # What PG&E shares is fixed at registration: an ESPI scope, whatever the request said.
    assert tokens["scope"].startswith("FB=")


async def test_state_is_optional_and_returned_only_when_sent(http: httpx.AsyncClient) -> None:
    page = await http.get("/sandbox/pge/oauth/authorize", params=pge_params(state=None))
    assert page.status_code == 200
    answer = await submit_consent(http, page, username="residential")
    callback = parse_qs(urlsplit(answer.headers["location"]).query)
    assert "code" in callback and "state" not in callback


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"scope": SCOPE}, "an ESPI scope"),
        ({"scope": None}, "no scope"),
        ({"scope": f"MinAuthEndDate={int(MINIMUM.timestamp())}"}, "one date only"),
        ({"scope": f"PreferredAuthEndDate={int(PREFERRED.timestamp())}"}, "one date only"),
        ({"scope": PGE_SCOPE + ";FB=1_3"}, "a function block besides"),
        ({"scope": "MinAuthEndDate=soon;PreferredAuthEndDate=later"}, "not numbers"),
        (
            {
                "scope": f"MinAuthEndDate={int((NOW - timedelta(days=1)).timestamp())};"
                f"PreferredAuthEndDate={int(PREFERRED.timestamp())}"
            },
            "a minimum in the past",
        ),
        (
            {
                "scope": f"MinAuthEndDate={int(PREFERRED.timestamp())};"
                f"PreferredAuthEndDate={int(MINIMUM.timestamp())}"
            },
            "a preferred end before the minimum",
        ),
        ({"scope": "MinAuthEndDate=99999999999999999999;PreferredAuthEndDate=1"}, "overflow"),
        ({"response_type": None}, "no response_type"),
        ({"response_type": "token"}, "another response_type"),
    ],
)
async def test_a_bad_scope_or_response_type_is_redirected_back_as_invalid_request(
    http: httpx.AsyncClient, overrides: dict[str, str | None], why: str
) -> None:
    page = await http.get("/sandbox/pge/oauth/authorize", params=pge_params(**overrides))
    assert page.status_code == 303, why
    back = parse_qs(urlsplit(page.headers["location"]).query)
    assert back["error"] == ["invalid_request"], why
    assert back["state"] == ["state-123"]


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "unknown"}, {"client_id": None}, {"redirect_uri": "https://evil.example/cb"}],
)
async def test_an_unknown_client_or_redirect_uri_is_a_page_never_a_redirect(
    http: httpx.AsyncClient, overrides: dict[str, str | None]
) -> None:
    page = await http.get("/sandbox/pge/oauth/authorize", params=pge_params(**overrides))
    assert page.status_code == 400 and "location" not in page.headers


async def test_the_authorization_lasts_until_the_preferred_end_and_then_refresh_stops(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    tokens = await exchange(http, await authorize(http))
    answer = await http.get(tokens["authorizationURI"], headers=bearer(await client_token(http)))
    period = DefusedET.fromstring(answer.content).find(f".//{ESPI}authorizedPeriod")
    assert period is not None
    start, duration = (int(period.findtext(f"{ESPI}{name}") or 0) for name in ("start", "duration"))
    assert datetime.fromtimestamp(start + duration, UTC) == PREFERRED
    clock.advance(PREFERRED - NOW)
    refreshed = await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": basic()},
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


async def test_authorizing_again_cancels_the_previous_subscription(
    http: httpx.AsyncClient,
) -> None:
    first = await exchange(http, await authorize(http, "residential"))
    other_customer = await exchange(http, await authorize(http, "commercial"))
    second = await exchange(http, await authorize(http, "residential"))
    assert await authorization_status(http, first["authorizationURI"]) == "0"
    assert await authorization_status(http, second["authorizationURI"]) == "1"
    assert await authorization_status(http, other_customer["authorizationURI"]) == "1"
    old_data = await http.get(first["resourceURI"], headers=bearer(first["access_token"]))
    assert old_data.status_code == 401
