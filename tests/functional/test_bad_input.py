"""Whatever a customer's browser or a script sends to the journey, the answer is never a 5xx."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message

from leap_connect.runtime import Runtime
from tests.support.factories import create_partner

FIELDS = ["customer_type", "customer_name", "customer_email", "company_name", "utility_id"]
TEXT = st.text(max_size=300) | st.sampled_from(["pge", "sce", "residential", "commercial", ""])
QUERY_VALUE = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)


@pytest.fixture
async def partner_client(client: httpx.AsyncClient, runtime: Runtime) -> httpx.AsyncClient:
    await create_partner(runtime)
    return client


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ref_id=QUERY_VALUE, requested=QUERY_VALUE, raw=st.binary(max_size=200))
async def test_landing_page_never_fails_on_any_link(
    partner_client: httpx.AsyncClient, ref_id: str, requested: str, raw: bytes
) -> None:
    response = await partner_client.get(
        "/acme/ca-homes", params={"refId": ref_id, "requestedUtilities": requested}
    )
    assert response.status_code in (200, 400)
    # Not even percent-encoded bytes that are not UTF-8.
    encoded = "".join(f"%{byte:02X}" for byte in raw)
    response = await partner_client.get(f"/acme/ca-homes?refId={encoded}")
    assert response.status_code in (200, 400)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(st.sampled_from([*FIELDS, "csrf_token", "x"]), TEXT, max_size=8),
    cookie=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=120),
)
async def test_landing_form_never_fails_on_any_fields_or_cookie(
    partner_client: httpx.AsyncClient, form: dict[str, str], cookie: str
) -> None:
    response = await partner_client.post(
        "/acme/ca-homes?requestedUtilities=pge",
        data=form,
        headers={"Cookie": f"leap_connect_browser={cookie}"},
    )
    assert response.status_code < 500, response.text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.text(max_size=60), query=st.dictionaries(st.text(max_size=20), QUERY_VALUE, max_size=4)
)
async def test_callback_and_session_pages_never_fail(
    partner_client: httpx.AsyncClient, path: str, query: dict[str, str]
) -> None:
    segment = quote(path, safe="")
    for url in (f"/connect/callback/{segment}", f"/connect/sessions/{segment}"):
        response = await partner_client.get(url, params=query)
        assert response.status_code < 500, response.text


async def test_body_over_one_mebibyte_is_refused_with_413(
    partner_client: httpx.AsyncClient,
) -> None:
    response = await partner_client.post(
        "/v2/meters/search",
        content=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Request too large"


async def test_a_customer_who_leaves_mid_form_is_no_server_error(
    app: FastAPI, partner_client: httpx.AsyncClient
) -> None:
    """The browser sends part of the form, then the connection drops (ClientDisconnect)."""
    arriving = [
        {
            "type": "http.request",
            "body": b"customer_type=residential&customer_na",
            "more_body": True,
        },
    ]
    answered: list[Message] = []

    async def receive() -> Message:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        answered.append(message)

    await app(
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/acme/ca-homes",
            "raw_path": b"/acme/ca-homes",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", b"2000"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        },
        receive,
        send,
    )

    statuses = [
        message["status"] for message in answered if message["type"] == "http.response.start"
    ]
    assert all(status < 500 for status in statuses)
    metrics = (await partner_client.get("/metrics")).text
    assert 'method="POST",route="unmatched",status="499"} 1.0' in metrics
    assert 'status="5' not in metrics
