"""The sandbox Green Button data custodian, driven over HTTP as a Connect My Data client would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as DefusedET
import httpx
import pytest
import xmlschema

from leap_connect.sandbox.customers import (
    SANDBOX_CUSTOMERS,
    customer_profile,
    data_window,
    sandbox_customer,
)
from leap_connect.sandbox.espi_writer import (
    ResourceUrls,
    feed_document,
    retail_customer_entries,
    subscription_entries,
)
from leap_connect.sandbox.green_button import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    DataCustodian,
    RegisteredClient,
    create_sandbox_app,
    create_sandbox_custodians,
)
from tests.support.reference_data import green_button_file

BASE = "http://127.0.0.1:8000"
CUSTODIAN_BASE = f"{BASE}/sandbox/pge"
RESOURCE_BASE = f"{CUSTODIAN_BASE}/espi/1_1/resource"
REDIRECT_URI = f"{BASE}/connect/callback/pge"
OTHER_CLIENT = RegisteredClient("other-client", "other-secret", ("https://other.example/callback",))
SCOPE = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
NOW = datetime(2025, 6, 15, 12, 30, tzinfo=UTC)
SLOW_SECONDS = 0.4

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
CUST = "{http://naesb.org/espi/customer}"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


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
        slow_seconds=SLOW_SECONDS,
    )


@pytest.fixture
async def http(custodian: DataCustodian) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app([custodian]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


# --- what a client does ---------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_params(challenge: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


def pge_scope(now: datetime, *, minimum_days: int = 30, preferred_days: int = 365) -> str:
    minimum = int((now + timedelta(days=minimum_days)).timestamp())
    preferred = int((now + timedelta(days=preferred_days)).timestamp())
    return f"MinAuthEndDate={minimum};PreferredAuthEndDate={preferred}"


def basic(client_id: str = SANDBOX_CLIENT_ID, secret: str = SANDBOX_CLIENT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FormReader(HTMLParser):
    """The page's form as a script sees it: action, inputs with values, submit buttons, labels."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.input_types: dict[str, str] = {}
        self.input_ids: set[str] = set()
        self.buttons: list[tuple[str, str]] = []
        self.label_targets: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action")
        elif tag == "input":
            self.fields[attributes["name"]] = attributes.get("value", "")
            self.input_types[attributes["name"]] = attributes.get("type", "text")
            self.input_ids.add(attributes.get("id", ""))
        elif tag == "button":
            self.buttons.append((attributes.get("name", ""), attributes.get("value", "")))
        elif tag == "label":
            self.label_targets.add(attributes.get("for", ""))


def read_form(page: httpx.Response) -> FormReader:
    reader = FormReader()
    reader.feed(page.text)
    return reader


async def submit_consent(
    http: httpx.AsyncClient,
    page: httpx.Response,
    *,
    username: str,
    password: str = "sandbox",
    decision: str = "approve",
) -> httpx.Response:
    form = read_form(page)
    assert form.action is not None
    fields = {**form.fields, "username": username, "password": password, "decision": decision}
    return await http.post(urljoin(str(page.url), form.action), data=fields)


async def authorize(
    http: httpx.AsyncClient, username: str, *, scope: str = SCOPE
) -> tuple[str, str]:
    """Sign in as the test customer and approve: the code, and the PKCE verifier for it."""
    verifier, challenge = pkce()
    page = await http.get(
        "/sandbox/pge/oauth/authorize", params=authorize_params(challenge, scope=scope)
    )
    assert page.status_code == 200
    answer = await submit_consent(http, page, username=username)
    assert answer.status_code == 303
    callback = parse_qs(urlsplit(answer.headers["location"]).query)
    assert callback["state"] == ["state-123"]
    return callback["code"][0], verifier


async def exchange(
    http: httpx.AsyncClient,
    code: str,
    verifier: str | None,
    *,
    authorization: str | None = None,
    redirect_uri: str = REDIRECT_URI,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    headers = {"Authorization": authorization or basic()}
    return await http.post("/sandbox/pge/oauth/token", data=form, headers=headers)


async def connect(http: httpx.AsyncClient, username: str) -> dict[str, Any]:
    code, verifier = await authorize(http, username)
    answer = await exchange(http, code, verifier)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Authorization": basic()},
    )


async def client_token(http: httpx.AsyncClient) -> str:
    answer = await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic()},
    )
    assert answer.status_code == 200
    token: str = answer.json()["access_token"]
    return token


def xml(response: httpx.Response) -> Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml"
    root: Element = DefusedET.fromstring(response.content)
    return root


def contents(root: Element) -> list[Element]:
    """The ESPI resource inside each Atom entry of a feed (or of a lone entry)."""
    entries = [root] if root.tag == f"{ATOM}entry" else root.findall(f"{ATOM}entry")
    return [next(iter(entry.find(f"{ATOM}content"))) for entry in entries]  # type: ignore[arg-type]


def of_kind(root: Element, tag: str) -> list[Element]:
    return [content for content in contents(root) if content.tag == tag]


def readings(root: Element) -> list[tuple[int, int]]:
    return [
        (
            int(reading.findtext(f"{ESPI}timePeriod/{ESPI}start", "")),
            int(reading.findtext(f"{ESPI}value", "")),
        )
        for block in of_kind(root, f"{ESPI}IntervalBlock")
        for reading in block.findall(f"{ESPI}IntervalReading")
    ]


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


# --- the happy path -------------------------------------------------------------------------


async def test_customer_authorizes_and_the_client_reads_a_year_of_hourly_usage(
    http: httpx.AsyncClient,
) -> None:
    verifier, challenge = pkce()
    page = await http.get("/sandbox/pge/oauth/authorize", params=authorize_params(challenge))
    assert page.status_code == 200
    assert "Pacific Gas and Electric Company" in page.text
    assert "PG&amp;E" in page.text
    form = read_form(page)
    assert form.fields["client_id"] == SANDBOX_CLIENT_ID
    assert form.fields["code_challenge"] == challenge
    assert ("decision", "approve") in form.buttons and ("decision", "deny") in form.buttons

    answer = await submit_consent(http, page, username="residential")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    callback = parse_qs(location.query)
    assert callback["state"] == ["state-123"]

    token = await exchange(http, callback["code"][0], verifier)
    assert token.status_code == 200
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == SCOPE
    assert body["access_token"] and body["refresh_token"]
    assert body["resourceURI"].startswith(f"{RESOURCE_BASE}/Batch/Subscription/")
    assert body["authorizationURI"].startswith(f"{RESOURCE_BASE}/Authorization/")
    assert body["customerResourceURI"].startswith(f"{RESOURCE_BASE}/Batch/RetailCustomer/")

    feed = xml(await http.get(body["resourceURI"], headers=bearer(body["access_token"])))
    assert len(of_kind(feed, f"{ESPI}UsagePoint")) == 1
    assert len(of_kind(feed, f"{ESPI}MeterReading")) == 1
    assert len(of_kind(feed, f"{ESPI}LocalTimeParameters")) == 1
    (reading_type,) = of_kind(feed, f"{ESPI}ReadingType")
    assert reading_type.findtext(f"{ESPI}uom") == "72"
    assert reading_type.findtext(f"{ESPI}intervalLength") == "3600"
    multiplier = int(reading_type.findtext(f"{ESPI}powerOfTenMultiplier", ""))
    assert multiplier == -3
    year = readings(feed)
    first, last = whole_local_days(*data_window(NOW))
    assert len(year) == (last - first) // 3600 >= 364 * 24
    assert year[0][0] == first
    assert year[-1][0] == last - 3600
    kwh = sum(value for _, value in year) * 10.0**multiplier / 1000
    assert 3000 < kwh < 12000  # a Californian home's year

    # Blocks are whole local days: 1 March 2025 in California is 08:00 to 08:00 UTC.
    window = {"published-min": "2025-03-01T08:00:00Z", "published-max": "2025-03-02T08:00:00Z"}
    (usage_point_link,) = [
        link.get("href")
        for entry in feed.findall(f"{ATOM}entry")
        for link in entry.findall(f"{ATOM}link")
        if link.get("rel") == "related" and link.get("type") == "espi-feed/IntervalBlock"
    ]
    day = xml(await http.get(usage_point_link, params=window, headers=bearer(body["access_token"])))
    one_day = readings(day)
    assert [moment for moment, _ in one_day] == [
        epoch("2025-03-01T08:00:00+00:00") + hour * 3600 for hour in range(24)
    ]
    assert one_day == [reading for reading in year if reading[0] in dict(one_day)]
    # A block is returned only when all of it lies inside the window, as OpenESPI does.
    utc_day = {"published-min": "2025-03-01T00:00:00Z", "published-max": "2025-03-02T00:00:00Z"}
    none = xml(
        await http.get(usage_point_link, params=utc_day, headers=bearer(body["access_token"]))
    )
    assert readings(none) == []


MIDNIGHT = datetime.min.time()


def whole_local_days(start: datetime, end: datetime) -> tuple[int, int]:
    """The first and last California midnight inside [start, end], in epoch seconds."""
    pacific = ZoneInfo("America/Los_Angeles")
    first = start.astimezone(pacific)
    if first.time() != MIDNIGHT:
        first = datetime.combine(first.date() + timedelta(days=1), MIDNIGHT, tzinfo=pacific)
    last = datetime.combine(end.astimezone(pacific).date(), MIDNIGHT, tzinfo=pacific)
    return int(first.timestamp()), int(last.timestamp())


def test_blocks_are_local_days_of_23_and_25_hours_around_dst() -> None:
    (point,) = customer_profile("pge", "residential").usage_points
    blocks = point.interval_blocks(
        datetime(2025, 3, 8, 8, tzinfo=UTC), datetime(2025, 3, 10, 7, tzinfo=UTC)
    )
    assert [(b.block_id, b.duration // 3600, len(b.readings)) for b in blocks] == [
        ("20250308", 24, 24),
        ("20250309", 23, 23),
    ]
    autumn = point.interval_blocks(
        datetime(2025, 11, 2, 7, tzinfo=UTC), datetime(2025, 11, 3, 8, tzinfo=UTC)
    )
    assert [(b.block_id, b.duration // 3600) for b in autumn] == [("20251102", 25)]


def test_residential_load_has_a_daily_and_a_seasonal_shape() -> None:
    (point,) = customer_profile("sce", "residential").usage_points
    july = point.readings(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC))
    january = point.readings(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    # Local 03:00 is 11:00 UTC, local 19:00 is 03:00 UTC (Pacific Standard Time).
    night = [value for moment, value in july if moment // 3600 % 24 == 11]
    evening = [value for moment, value in july if moment // 3600 % 24 == 3]
    assert sum(evening) > 2 * sum(night)
    assert sum(value for _, value in july) > sum(value for _, value in january)


def test_generated_customers_are_the_same_in_another_process() -> None:
    script = (
        "from datetime import datetime, UTC\n"
        "from leap_connect.sandbox.customers import customer_profile\n"
        "p = customer_profile('sdge', 'commercial')\n"
        "pt = p.usage_points[2]\n"
        "r = pt.readings(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))\n"
        "print(p.retail_customer_id, p.account_number, pt.usage_point_id,"
        " pt.meter_serial_number, pt.address.one_line(), sum(v for _, v in r))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    profile = customer_profile("sdge", "commercial")
    point = profile.usage_points[2]
    day = point.readings(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    assert other == (
        f"{profile.retail_customer_id} {profile.account_number} {point.usage_point_id} "
        f"{point.meter_serial_number} {point.address.one_line()} {sum(v for _, v in day)}"
    )
    assert customer_profile("pge", "commercial") != customer_profile("sdge", "commercial")


async def test_commercial_customer_has_three_15_minute_meters_at_two_addresses(
    http: httpx.AsyncClient,
) -> None:
    body = await connect(http, "commercial")
    # 7 April 2025 in California (Pacific Daylight Time): 07:00 to 07:00 UTC.
    window = {"published-min": "2025-04-07T07:00:00Z", "published-max": "2025-04-08T07:00:00Z"}
    feed = xml(
        await http.get(body["resourceURI"], params=window, headers=bearer(body["access_token"]))
    )
    assert len(of_kind(feed, f"{ESPI}UsagePoint")) == 3
    reading_types = of_kind(feed, f"{ESPI}ReadingType")
    assert {rt.findtext(f"{ESPI}intervalLength") for rt in reading_types} == {"900"}
    assert len(readings(feed)) == 3 * 96

    customer = xml(
        await http.get(body["customerResourceURI"], headers=bearer(body["access_token"]))
    )
    (account,) = of_kind(customer, f"{CUST}CustomerAccount")
    assert account.findtext(f"{CUST}accountId")
    locations = of_kind(customer, f"{CUST}ServiceLocation")
    addresses = {
        location.findtext(f"{CUST}mainAddress/{CUST}streetDetail/{CUST}addressGeneral")
        for location in locations
    }
    assert len(locations) == 3 and len(addresses) == 2
    serials = {meter.findtext(f"{CUST}serialNumber") for meter in of_kind(customer, f"{CUST}Meter")}
    assert len(serials) == 3


# --- the authorization endpoint's rules -----------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "unknown-client"},
        {"client_id": None},
        {"redirect_uri": "https://attacker.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI + "?next=https://attacker.example"},
        {"redirect_uri": None},
        {"redirect_uri": OTHER_CLIENT.redirect_uris[0]},  # another client's URI
    ],
)
async def test_unregistered_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    http: httpx.AsyncClient, overrides: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, **overrides)
    page = await http.get("/sandbox/pge/oauth/authorize", params=params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "cannot be used" in page.text

    posted = await http.post(
        "/sandbox/pge/oauth/authorize",
        data={**params, "username": "residential", "password": "sandbox", "decision": "approve"},
    )
    assert posted.status_code == 400
    assert "location" not in posted.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": None}, "invalid_request"),
        ({"scope": "openid profile"}, "invalid_scope"),
    ],
)
async def test_bad_requests_are_sent_back_to_the_client_with_an_error(
    http: httpx.AsyncClient, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    answer = await http.get(
        "/sandbox/pge/oauth/authorize", params=authorize_params(challenge, **overrides)
    )
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    callback = parse_qs(location.query)
    assert callback["error"] == [error]
    assert callback["error_description"]
    assert callback["state"] == ["state-123"]
    assert "code" not in callback


async def test_a_repeated_parameter_is_an_invalid_request(http: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    params = [*authorize_params(challenge).items(), ("scope", "FB=1_3")]
    answer = await http.get("/sandbox/pge/oauth/authorize", params=params)
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["invalid_request"]


async def test_the_consent_page_needs_no_inline_style_or_script(http: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    page = await http.get("/sandbox/pge/oauth/authorize", params=authorize_params(challenge))
    assert "style=" not in page.text and "<style" not in page.text and "<script" not in page.text
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    form = read_form(page)
    assert {"username", "password"} <= form.label_targets <= form.input_ids
    assert form.input_types["password"] == "password"
    stylesheet = await http.get(urljoin(str(page.url), "../static/sandbox.css"))
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")


async def test_denying_sends_access_denied_to_the_client(http: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    page = await http.get("/sandbox/pge/oauth/authorize", params=authorize_params(challenge))
    answer = await submit_consent(http, page, username="", password="", decision="deny")
    assert answer.status_code == 303
    callback = parse_qs(urlsplit(answer.headers["location"]).query)
    assert callback["error"] == ["access_denied"]
    assert callback["state"] == ["state-123"]
    assert "code" not in callback


@pytest.mark.parametrize(
    ("username", "password"), [("residential", "wrong"), ("nobody", "sandbox")]
)
async def test_a_wrong_password_shows_the_page_again_with_a_message(
    http: httpx.AsyncClient, username: str, password: str
) -> None:
    _, challenge = pkce()
    page = await http.get("/sandbox/pge/oauth/authorize", params=authorize_params(challenge))
    answer = await submit_consent(http, page, username=username, password=password)
    assert answer.status_code == 401
    assert "location" not in answer.headers
    assert "do not match" in answer.text
    again = read_form(answer)
    assert again.fields["username"] == username
    assert again.fields["password"] == ""
    assert again.fields["state"] == "state-123"


async def test_every_sandbox_utility_is_branded_and_mounted_at_its_own_path(
    clock: FakeClock,
) -> None:
    clients = [RegisteredClient(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, (REDIRECT_URI,))]
    custodians = create_sandbox_custodians(BASE, clients, clock=clock)
    transport = httpx.ASGITransport(app=create_sandbox_app(custodians))
    _, challenge = pkce()
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        for utility_id, name in (("pge", "PG&amp;E"), ("sce", "SCE"), ("sdge", "SDG&amp;E")):
            # PG&E's sandbox plays PG&E: its scope is two end dates, never an ESPI scope.
            params = authorize_params(challenge)
            if utility_id == "pge":
                params["scope"] = pge_scope(clock.now)
            page = await http.get(f"/sandbox/{utility_id}/oauth/authorize", params=params)
            assert page.status_code == 200
            assert f"Share your {name} energy data" in page.text
        index = (await http.get("/")).json()
    assert [u["token_endpoint"] for u in index["utilities"]] == [
        f"{BASE}/sandbox/{utility_id}/oauth/token" for utility_id in ("pge", "sce", "sdge")
    ]


def test_only_green_button_utilities_have_a_custodian() -> None:
    with pytest.raises(ValueError, match="cecony"):
        DataCustodian("cecony-utilityapi", public_base_url=BASE, clients=[])


# --- the token endpoint's rules -------------------------------------------------------------


async def test_a_wrong_code_verifier_is_refused_and_uses_the_code_up(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "residential")
    wrong = await exchange(http, code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert (await exchange(http, code, verifier)).json()["error"] == "invalid_grant"


async def test_a_missing_code_verifier_is_refused(http: httpx.AsyncClient) -> None:
    code, _ = await authorize(http, "residential")
    answer = await exchange(http, code, None)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "residential")
    answer = await exchange(http, code, verifier, redirect_uri=REDIRECT_URI + "/other")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_a_reused_code_fails_and_revokes_the_tokens_issued_from_it(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "residential")
    first = (await exchange(http, code, verifier)).json()
    assert (
        await http.get(first["resourceURI"], headers=bearer(first["access_token"]))
    ).status_code == 200

    replay = await exchange(http, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"

    after = await http.get(first["resourceURI"], headers=bearer(first["access_token"]))
    assert after.status_code == 401
    assert (await refresh(http, first["refresh_token"])).json()["error"] == "invalid_grant"


async def test_a_code_expires(http: httpx.AsyncClient, clock: FakeClock) -> None:
    code, verifier = await authorize(http, "residential")
    clock.advance(timedelta(minutes=10, seconds=1))
    answer = await exchange(http, code, verifier)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


async def test_a_code_is_bound_to_the_client_it_was_issued_to(http: httpx.AsyncClient) -> None:
    code, verifier = await authorize(http, "residential")
    stolen = await exchange(
        http, code, verifier, authorization=basic("other-client", "other-secret")
    )
    assert stolen.json()["error"] == "invalid_grant"
    assert (await exchange(http, code, verifier)).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic(secret="wrong-secret"),
        basic(client_id="unknown-client"),
        "Basic not-base64!",
        "Bearer " + SANDBOX_CLIENT_SECRET,
    ],
)
async def test_the_token_endpoint_needs_http_basic_client_authentication(
    http: httpx.AsyncClient, authorization: str | None
) -> None:
    code, verifier = await authorize(http, "residential")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        # client_secret_post is not accepted in place of Basic.
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
    }
    headers = {"Authorization": authorization} if authorization else {}
    answer = await http.post("/sandbox/pge/oauth/token", data=form, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.json()["error"] == "invalid_client"
    # A failed client authentication leaves the code for its rightful client.
    assert (await exchange(http, code, verifier)).status_code == 200


async def test_an_unknown_grant_type_is_refused(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/sandbox/pge/oauth/token",
        data={"grant_type": "password"},
        headers={"Authorization": basic()},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


# --- the special test customers -------------------------------------------------------------


async def test_partial_customer_grants_a_smaller_scope(http: httpx.AsyncClient) -> None:
    body = await connect(http, "partial")
    assert body["scope"] == (
        "FB=1_3_4_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
    )
    authorization = xml(
        await http.get(body["authorizationURI"], headers=bearer(body["access_token"]))
    )
    (content,) = contents(authorization)
    assert content.findtext(f"{ESPI}scope") == body["scope"]


async def test_partial_customer_drops_a_block_even_when_none_is_optional(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "partial", scope="FB=1_3_4_14")
    assert (await exchange(http, code, verifier)).json()["scope"] == "FB=1_3_4"


async def test_utility_down_customer_makes_the_token_exchange_fail_with_503(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "utility-down")
    answer = await exchange(http, code, verifier)
    assert answer.status_code == 503
    assert answer.headers["retry-after"]
    assert answer.json()["error"] == "temporarily_unavailable"


async def test_slow_customer_token_exchange_answers_after_slow_seconds_without_blocking(
    http: httpx.AsyncClient,
) -> None:
    code, verifier = await authorize(http, "slow")
    started = time.monotonic()
    exchange_task = asyncio.create_task(exchange(http, code, verifier))
    await asyncio.sleep(0.05)
    meanwhile = await http.get("/sandbox/pge/static/sandbox.css")
    assert meanwhile.status_code == 200 and not exchange_task.done()
    answer = await exchange_task
    assert time.monotonic() - started >= SLOW_SECONDS
    assert answer.status_code == 200
    assert answer.json()["access_token"]


# --- refresh, revocation, resource access ---------------------------------------------------


async def test_refresh_gives_a_new_access_token_and_rotates_the_refresh_token(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await connect(http, "residential")
    clock.advance(timedelta(hours=1, seconds=1))
    expired = await http.get(first["resourceURI"], headers=bearer(first["access_token"]))
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]

    answer = await refresh(http, first["refresh_token"])
    assert answer.status_code == 200
    second = answer.json()
    assert second["scope"] == first["scope"]
    assert second["resourceURI"] == first["resourceURI"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await http.get(second["resourceURI"], headers=bearer(second["access_token"]))
    ).status_code == 200
    assert (await refresh(http, first["refresh_token"])).json()["error"] == "invalid_grant"


async def test_revoking_stops_the_tokens_and_marks_the_authorization_revoked(
    http: httpx.AsyncClient,
) -> None:
    body = await connect(http, "residential")
    revoked = await http.post(
        "/sandbox/pge/oauth/revoke",
        data={"token": body["refresh_token"], "token_type_hint": "refresh_token"},
        headers={"Authorization": basic()},
    )
    assert revoked.status_code == 200

    data = await http.get(body["resourceURI"], headers=bearer(body["access_token"]))
    assert data.status_code == 401
    assert (await refresh(http, body["refresh_token"])).json()["error"] == "invalid_grant"

    # The client's own (client_credentials) token still reads the Authorization: now revoked.
    authorization = xml(
        await http.get(body["authorizationURI"], headers=bearer(await client_token(http)))
    )
    (content,) = contents(authorization)
    assert content.findtext(f"{ESPI}status") == "0"


async def test_revocation_needs_client_authentication_and_the_right_client(
    http: httpx.AsyncClient,
) -> None:
    body = await connect(http, "residential")
    anonymous = await http.post("/sandbox/pge/oauth/revoke", data={"token": body["access_token"]})
    assert anonymous.status_code == 401
    other = await http.post(
        "/sandbox/pge/oauth/revoke",
        data={"token": body["access_token"]},
        headers={"Authorization": basic("other-client", "other-secret")},
    )
    assert other.status_code == 400
    assert (
        await http.get(body["resourceURI"], headers=bearer(body["access_token"]))
    ).status_code == 200
    unknown = await http.post(
        "/sandbox/pge/oauth/revoke",
        data={"token": "no-such-token"},
        headers={"Authorization": basic()},
    )
    assert unknown.status_code == 200  # RFC 7009 §2.2


async def test_resources_need_a_bearer_token_for_that_customer(http: httpx.AsyncClient) -> None:
    residential = await connect(http, "residential")
    commercial = await connect(http, "commercial")

    missing = await http.get(residential["resourceURI"])
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    unknown = await http.get(residential["resourceURI"], headers=bearer("not-a-token"))
    assert unknown.status_code == 401

    token = bearer(residential["access_token"])
    assert (await http.get(commercial["resourceURI"], headers=token)).status_code == 403
    assert (await http.get(commercial["customerResourceURI"], headers=token)).status_code == 403
    assert (await http.get(commercial["authorizationURI"], headers=token)).status_code == 403
    nowhere = f"{RESOURCE_BASE}/Batch/Subscription/999"
    assert (await http.get(nowhere, headers=token)).status_code == 404
    assert (
        await http.get(residential["resourceURI"], headers=bearer(await client_token(http)))
    ).status_code == 403


async def test_bad_published_window_is_a_400(http: httpx.AsyncClient) -> None:
    body = await connect(http, "residential")
    token = bearer(body["access_token"])
    bad = await http.get(body["resourceURI"], params={"published-min": "yesterday"}, headers=token)
    assert bad.status_code == 400
    backwards = {"published-min": "2025-03-02T00:00:00Z", "published-max": "2025-03-01T00:00:00Z"}
    assert (await http.get(body["resourceURI"], params=backwards, headers=token)).status_code == 400


async def test_the_client_token_lists_the_clients_authorizations(http: httpx.AsyncClient) -> None:
    first = await connect(http, "residential")
    second = await connect(http, "commercial")
    feed = xml(
        await http.get(f"{RESOURCE_BASE}/Authorization", headers=bearer(await client_token(http)))
    )
    uris = {content.findtext(f"{ESPI}authorizationURI") for content in contents(feed)}
    assert uris == {first["authorizationURI"], second["authorizationURI"]}


# --- every document validates against the ESPI schemas (reference data) ---------------------


@pytest.fixture(scope="module")
def schemas() -> dict[str, xmlschema.XMLSchema]:
    """The official ESPI and customer schemas, by namespace."""
    with warnings.catch_warnings():
        # The schemas import atom.xsd, which is not shipped; the ESPI content does not need it.
        warnings.simplefilter("ignore")
        return {
            "http://naesb.org/espi": xmlschema.XMLSchema(
                str(green_button_file("openespi-espi.xsd"))
            ),
            "http://naesb.org/espi/customer": xmlschema.XMLSchema(
                str(green_button_file("openespi-customer.xsd"))
            ),
        }


def validate(schemas: dict[str, xmlschema.XMLSchema], root: Element) -> int:
    """Validate the ESPI content of every entry against the schema of its namespace."""
    checked = 0
    for content in contents(root):
        namespace = content.tag[1:].partition("}")[0]
        schemas[namespace].validate(content)
        checked += 1
    assert checked
    return checked


def test_the_validator_rejects_content_the_schema_forbids(
    schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    wrong = DefusedET.fromstring(
        '<UsagePoint xmlns="http://naesb.org/espi"><status>1</status>'
        "<ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint>"
    )
    assert not schemas["http://naesb.org/espi"].is_valid(wrong)


def link(root: Element, rel: str, kind: str) -> str:
    return next(
        str(element.get("href"))
        for element in root.iter(f"{ATOM}link")
        if element.get("rel") == rel and element.get("type") == kind
    )


@pytest.mark.parametrize("username", ["residential", "commercial", "partial", "slow", "solar"])
async def test_every_resource_validates_against_the_espi_schemas(
    http: httpx.AsyncClient, schemas: dict[str, xmlschema.XMLSchema], username: str
) -> None:
    body = await connect(http, username)
    token = bearer(body["access_token"])
    # xmlschema takes a few seconds per year of readings: the residential year is checked whole
    # once, everything else over a week of local-day blocks, which has the same shapes.
    window = {"published-min": "2025-03-28T07:00:00Z", "published-max": "2025-04-04T07:00:00Z"}
    if username == "residential":
        year = xml(await http.get(body["resourceURI"], headers=token))
        first, last = whole_local_days(*data_window(NOW))
        days = round((last - first) / 86400)
        # UsagePoint, MeterReading, ReadingType, a block per local day, LocalTimeParameters.
        assert validate(schemas, year) == 4 + days
    batch = xml(await http.get(body["resourceURI"], params=window, headers=token))
    validate(schemas, batch)
    usage_point_href = link(batch, "self", "espi-entry/UsagePoint")
    subscription = body["resourceURI"].rsplit("/", 1)[1]
    usage_point_id = usage_point_href.rsplit("/", 1)[1]
    meter_reading_href = link(batch, "self", "espi-entry/MeterReading")
    interval_blocks_href = link(batch, "related", "espi-feed/IntervalBlock")
    documents = [
        f"{RESOURCE_BASE}/Batch/Subscription/{subscription}/UsagePoint/{usage_point_id}",
        f"{RESOURCE_BASE}/Subscription/{subscription}/UsagePoint",
        usage_point_href,
        link(batch, "related", "espi-feed/MeterReading"),
        meter_reading_href,
        link(batch, "self", "espi-entry/IntervalBlock"),
        link(batch, "related", "espi-entry/ReadingType"),
        link(batch, "related", "espi-entry/LocalTimeParameters"),
        body["authorizationURI"],
        f"{RESOURCE_BASE}/Authorization",
        body["customerResourceURI"],
    ]
    for href in documents:
        validate(schemas, xml(await http.get(href, params=window, headers=token)))
    validate(schemas, xml(await http.get(interval_blocks_href, params=window, headers=token)))
    client = bearer(await client_token(http))
    validate(schemas, xml(await http.get(f"{RESOURCE_BASE}/Authorization", headers=client)))


def test_utility_down_customers_data_validates_too(schemas: dict[str, xmlschema.XMLSchema]) -> None:
    # Its token exchange always fails, so no request reaches its data: write it directly.
    profile = customer_profile("sce", "utility-down")
    assert SANDBOX_CUSTOMERS["utility-down"].classification == profile.classification
    urls = ResourceUrls("http://127.0.0.1:8000/sandbox/sce/espi/1_1/resource")
    start, end = data_window(NOW)
    blocks = [point.interval_blocks(start, end) for point in profile.usage_points]
    for entries in (
        subscription_entries(urls, "1", profile.usage_points, blocks, published=end),
        retail_customer_entries(urls, "1", profile, published=end),
    ):
        document = feed_document(
            title="t",
            self_href="http://x/feed",
            self_type="espi-feed/x",
            updated=NOW,
            entries=entries,
        )
        validate(schemas, DefusedET.fromstring(document))


def test_a_year_of_hourly_readings_is_written_in_full() -> None:
    profile = customer_profile("pge", "residential")
    urls = ResourceUrls(f"{RESOURCE_BASE}")
    start, end = data_window(NOW)
    blocks = [point.interval_blocks(start, end) for point in profile.usage_points]
    document = feed_document(
        title="t",
        self_href="http://x/feed",
        self_type="espi-feed/Subscription",
        updated=NOW,
        entries=subscription_entries(urls, "1", profile.usage_points, blocks, published=end),
    )
    first, last = whole_local_days(start, end)
    hours = (last - first) // 3600
    assert hours >= 364 * 24
    assert document.count(b"<espi:IntervalReading>") + document.count(b"<IntervalReading>") == hours


def test_a_tagged_test_customer_behaves_like_its_kind_with_meters_of_its_own() -> None:
    plain = customer_profile("pge", "commercial")
    tagged = customer_profile("pge", "commercial+store-7")
    other = customer_profile("pge", "commercial+store-8")
    assert tagged.classification == plain.classification
    assert len(tagged.usage_points) == len(plain.usage_points) == 3
    ids = {p.usage_point_id for p in plain.usage_points}
    assert ids.isdisjoint(p.usage_point_id for p in tagged.usage_points)
    assert {p.usage_point_id for p in tagged.usage_points}.isdisjoint(
        p.usage_point_id for p in other.usage_points
    )
    assert customer_profile("pge", "commercial+store-7") == tagged


@pytest.mark.parametrize("username", ["nobody+x", "residential+", "residential+a b", "+x"])
def test_only_a_published_customer_can_be_tagged(username: str) -> None:
    assert sandbox_customer(username) is None
