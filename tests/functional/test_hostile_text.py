"""A NUL, a lone surrogate or a bidi override in any text is a 4xx naming the field, never a 5xx.

PostgreSQL refuses NUL in text and nothing can encode a lone surrogate; SQLite stores both, so
these tests hold on either database (run them with TEST_DATABASE_URL for PostgreSQL too).
"""

from __future__ import annotations

from typing import Any

import httpx
import lxml.html
import pytest
from sqlalchemy import func, select

from leap_connect.models import ConnectSession, Meter, WebhookEndpoint
from leap_connect.runtime import Runtime
from tests.functional.api.conftest import ApiPartner, api_partner, seed_meters
from tests.functional.portal.conftest import ADMIN_EMAIL, Portal, add_user
from tests.support.browser import Browser
from tests.support.factories import RESIDENTIAL_DETAILS, Partner

# JSON escapes, sent as raw text: the client's own JSON encoder could not send a lone surrogate.
HOSTILE = {"nul": "\\u0000", "surrogate": "\\ud800"}
WEBHOOK_URL = "https://partner.example/webhooks"
WEBHOOK = f'"url": "{WEBHOOK_URL}", "event_types": ["meter.created"]'


@pytest.fixture
async def acme(runtime: Runtime) -> ApiPartner:
    return await api_partner(runtime, "acme")


async def count(runtime: Runtime, model: type, *where: Any) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


def assert_names_field(response: httpx.Response, field: str) -> None:
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields


# (method, path, raw JSON body, the field the problem names) for every /v2 body that takes text;
# METER stands for a meter's ID and BAD for the hostile character's JSON escape.
BODIES = {
    "meter-reference": (
        "PATCH",
        "/v2/meters/METER/partner_reference",
        '{"partner_reference": "refBAD"}',
        "partner_reference",
    ),
    "link-ref-id": (
        "POST",
        "/v2/connect/links",
        '{"flow": "ca-homes", "ref_id": "cBAD"}',
        "ref_id",
    ),
    "link-utilities": (
        "POST",
        "/v2/connect/links",
        '{"flow": "ca-homes", "requested_utilities": ["pgeBAD"]}',
        "requested_utilities",
    ),
    "link-flow": ("POST", "/v2/connect/links", '{"flow": "ca-homesBAD"}', "flow"),
    "search-references": (
        "POST",
        "/v2/meters/search",
        '{"partner_references": ["rBAD"]}',
        "partner_references",
    ),
    "search-connection-references": (
        "POST",
        "/v2/meters/search",
        '{"connection_reference_ids": ["rBAD"]}',
        "connection_reference_ids",
    ),
    "search-page-token": ("POST", "/v2/meters/search", '{"page_token": "tBAD"}', "page_token"),
    "webhook-url": (
        "POST",
        "/v2/webhooks",
        f'{{"url": "{WEBHOOK_URL}BAD", "event_types": ["meter.created"]}}',
        "url",
    ),
    "webhook-header-name": (
        "POST",
        "/v2/webhooks",
        f'{{{WEBHOOK}, "headers": {{"X-KeyBAD": "v"}}}}',
        "headers",
    ),
    "webhook-header-value": (
        "POST",
        "/v2/webhooks",
        f'{{{WEBHOOK}, "headers": {{"X-Key": "vBAD"}}}}',
        "headers",
    ),
}


@pytest.mark.parametrize("bad", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
async def test_hostile_text_in_an_api_body_is_a_problem_naming_the_field(
    client: httpx.AsyncClient,
    runtime: Runtime,
    acme: ApiPartner,
    case: tuple[str, str, str, str],
    bad: str,
) -> None:
    method, path, body, field = case
    [meter_id] = await seed_meters(runtime, acme, 1, partner_reference="before")
    response = await client.request(
        method,
        path.replace("METER", str(meter_id)),
        content=body.replace("BAD", bad),
        headers={**acme.headers, "Content-Type": "application/json"},
    )
    assert_names_field(response, field)
    assert await count(runtime, Meter, Meter.partner_reference != "before") == 0
    assert await count(runtime, WebhookEndpoint) == 0


@pytest.mark.parametrize("bad", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_text_in_a_bulk_reference_update_fails_that_item_alone(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, bad: str
) -> None:
    """Bulk updates answer item by item (see the endpoint): the bad item is `invalid`."""
    good, other = await seed_meters(runtime, acme, 2, partner_reference="before")
    body = (
        f'{{"updates": [{{"meter_id": "{good}", "partner_reference": "after"}}, '
        f'{{"meter_id": "{other}", "partner_reference": "r{bad}"}}]}}'
    )
    response = await client.patch(
        "/v2/meters/partner_reference",
        content=body,
        headers={**acme.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    statuses = [result["status"] for result in response.json()["results"]]
    assert statuses == ["updated", "invalid"]
    assert await count(runtime, Meter, Meter.partner_reference == "after") == 1
    assert await count(runtime, Meter, Meter.partner_reference == "before") == 1


@pytest.mark.parametrize("bad", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_text_in_a_webhook_put_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, acme: ApiPartner, bad: str
) -> None:
    created = await client.post(
        "/v2/webhooks",
        json={"url": WEBHOOK_URL, "event_types": ["meter.created"]},
        headers=acme.headers,
    )
    assert created.status_code == 201, created.text
    path = f"/v2/webhooks/{created.json()['webhook_endpoint_id']}"
    for body, field in [
        (f'{{"url": "{WEBHOOK_URL}{bad}", "event_types": ["meter.created"]}}', "url"),
        (
            f'{{"url": "{WEBHOOK_URL}", "event_types": ["meter.created"], '
            f'"headers": {{"X{bad}": "v"}}}}',
            "headers",
        ),
    ]:
        response = await client.put(
            path, content=body, headers={**acme.headers, "Content-Type": "application/json"}
        )
        assert_names_field(response, field)
    assert (await client.get(path, headers=acme.headers)).json()["url"] == WEBHOOK_URL


@pytest.mark.parametrize("bad", ["\x00", "\x07"])
async def test_a_nul_in_a_session_filter_is_a_problem_naming_it(
    client: httpx.AsyncClient, acme: ApiPartner, bad: str
) -> None:
    response = await client.get(
        "/v2/connect/sessions", params={"partner_reference": f"c{bad}"}, headers=acme.headers
    )
    assert_names_field(response, "query.partner_reference")


# --- the landing form ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_name", "Ada\x00 Lovelace"),
        ("customer_name", "Ada \u202eecalevoL"),
        ("customer_email", "ada\x00@example.com"),
        ("company_name", "Acme\x00 Inc"),
        ("company_name", "Acme \u202eInc"),
    ],
)
async def test_hostile_text_in_the_landing_form_is_shown_next_to_its_field(
    client: httpx.AsyncClient, api_partner_flow: Partner, runtime: Runtime, field: str, value: str
) -> None:
    browser = Browser(client)
    landing = await browser.open("/acme/ca-homes")
    details = {**RESIDENTIAL_DETAILS, "customer_type": "commercial", "company_name": "Acme Inc"}
    page = await browser.submit(
        landing, button=("utility_id", "pge"), fields={**details, field: value}
    )
    assert page.status == 400, page.text
    error = page.document.get_element_by_id(f"{field}-error")
    assert error.text_content().strip()
    assert await count(runtime, ConnectSession) == 0


async def test_joiners_stay_allowed_in_a_name(
    client: httpx.AsyncClient, api_partner_flow: Partner, runtime: Runtime
) -> None:
    browser = Browser(client)
    landing = await browser.open("/acme/ca-homes")
    page = await browser.submit(
        landing,
        button=("utility_id", "pge"),
        fields={**RESIDENTIAL_DETAILS, "customer_name": "می\u200cخواهم"},
    )
    assert page.status < 400, page.text
    assert await count(runtime, ConnectSession) == 1


@pytest.fixture
async def api_partner_flow(acme: ApiPartner) -> Partner:
    return acme.partner


# --- portal filters ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["%00", "%07"], ids=["nul", "bell"])
@pytest.mark.parametrize(
    "path",
    [
        "/portal/meters?reference=",
        "/portal/meters?connection_reference=",
        "/portal/sessions?reference=",
        "/portal/sessions?flow=",
        "/portal/connect?flow=",
    ],
)
async def test_hostile_text_in_a_portal_filter_is_the_error_page_naming_it(
    client: httpx.AsyncClient, runtime: Runtime, acme: ApiPartner, path: str, bad: str
) -> None:
    # No lone surrogate here: a URL's bytes that are not UTF-8 are read as U+FFFD.
    await add_user(runtime, acme.partner, ADMIN_EMAIL, "admin")
    portal = Portal(client)
    assert (await portal.sign_in(ADMIN_EMAIL)).status_code == 303
    response = await client.get(path + "r" + bad)
    assert response.status_code == 400, response.text
    name = path.rsplit("?", 1)[1].rstrip("=")
    text = " ".join(lxml.html.fromstring(response.text).text_content().split())
    assert f"query.{name}: " in text and "control characters" in text, text
