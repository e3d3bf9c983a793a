"""The UtilityAPI connector: what it asks UtilityAPI, and how it reads the answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.kit.http import HttpClientFactory
from leap_connect.utilities.connector import (
    AuthorizationStart,
    ConnectorError,
    Grant,
    ServiceAddress,
    Tokens,
)
from leap_connect.utilities.registry import UTILITIES_BY_ID, Protocol, Utility
from leap_connect.utilities.utilityapi import (
    UtilityApiConnector,
    UtilityApiEndpoints,
    collection_state,
    form_error,
    intervals_in_listing,
    meters_in_listing,
    parse_service_address,
    webhook_signature,
    webhook_signature_ok,
)
from tests.support.reference_data import green_button_file
from tests.support.utilityapi_answers import utilityapi_authorization

API = "https://utilityapi.example"
START = AuthorizationStart(
    state="s" * 43, code_verifier="v" * 64, redirect_uri="https://c.example/cb/cecony-utilityapi"
)

TOKENS = Tokens(access_token="12345", refresh_token=None, expires_at=None, scope=None)
CECONY = UTILITIES_BY_ID["cecony-utilityapi"]


def meter(uid: str, service_identifier: str | None, **changes: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "authorization_uid": "12345",
        "utility": "CECONY",
        "is_archived": False,
        "status": "updated",
        "base": {
            "billing_account": "4021-1934-0012",
            "billing_address": "1 Main St, New York, NY 10001",
            "billing_contact": "Hopper Foods",
            "meter_numbers": ["703437804"],
            "service_address": "350 Hudson St, Floor 4, New York, NY 10014",
            "service_class": "commercial",
            "service_identifier": service_identifier,
            "service_tariff": "EL9",
        },
        **changes,
    }


def connector(
    handler: Callable[[httpx.Request], httpx.Response], utility: Utility = CECONY
) -> UtilityApiConnector:
    return UtilityApiConnector(
        utility,
        UtilityApiEndpoints(
            form_url="https://utilityapi.example/authorize/acme?lang=en",
            api_base_url=API,
            api_token="token-1",
        ),
        HttpClientFactory(timeout=5, transport=httpx.MockTransport(handler)),
        lookup_retry_delays=(0.0, 0.0),
    )


def test_authorization_url_names_the_utility_redirect_uri_and_state() -> None:
    url = connector(lambda request: httpx.Response(500)).authorization_url(START)

    parts = urlsplit(url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://utilityapi.example/authorize/acme"
    )
    assert parse_qs(parts.query) == {
        "lang": ["en"],
        "utility": ["CECONY"],
        "redirect_uri": [START.redirect_uri],
        "state": [START.state],
    }


async def test_referral_is_resolved_with_the_bearer_token_and_meters_included() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = utilityapi_authorization(
            uid="48213",
            expires="2027-03-10T15:00:00.250000+00:00",
            meters={"meters": [meter("321", "SID-1")], "next": None},
        )
        return httpx.Response(200, json={"authorizations": [body], "next": None})

    result = await connector(answer).complete(START, {"referral": "ref-9", "state": START.state})

    (request,) = seen
    assert request.url.path == "/api/v2/authorizations"
    assert dict(request.url.params) == {"referrals": "ref-9", "include": "meters"}
    assert request.headers["authorization"] == "Bearer token-1"
    assert result.utility_authorization_ref == "48213"
    assert result.resource_uri == f"{API}/api/v2/authorizations/48213"
    assert result.expires_at == datetime(2027, 3, 10, 15, 0, 0, 250000, tzinfo=UTC)
    assert result.meters_pending is False
    (found,) = result.meters
    assert found.utility_meter_id == "SID-1"
    assert found.usage_point_uri == f"{API}/api/v2/meters/321"
    # The SAID is UtilityAPI's service_identifier; the billing account is the customer's account.
    assert found.electric_service_account_number == "SID-1"
    assert found.customer_account_number == "4021-1934-0012"
    assert found.service_class == "commercial"
    assert found.utility_meter_serial_number == "703437804"
    assert found.tariff == "EL9"
    assert found.address == ServiceAddress(
        street_1="350 Hudson St",
        street_2="Floor 4",
        city="New York",
        state_or_province_code="NY",
        postal_code="10014",
    )


async def test_authorization_without_meters_yet_completes_with_meters_pending() -> None:
    body = utilityapi_authorization(uid="48213", meters={"meters": [], "next": None})
    answer = httpx.Response(200, json={"authorizations": [body], "next": None})

    result = await connector(lambda request: answer).complete(START, {"referral": "r"})

    assert result.meters == ()
    assert result.meters_pending is True
    assert result.tokens is not None and result.tokens.access_token == "48213"


async def test_authorization_for_another_utility_than_the_attempt_is_refused() -> None:
    body = utilityapi_authorization(utility="PG&E")
    answer = httpx.Response(200, json={"authorizations": [body], "next": None})

    with pytest.raises(ConnectorError) as refused:
        await connector(lambda request: answer).complete(START, {"referral": "r"})

    assert refused.value.code == "wrong_utility"
    assert "PG&E" in refused.value.message


async def test_unknown_referral_is_refused() -> None:
    answer = httpx.Response(200, json={"authorizations": [], "next": None})

    with pytest.raises(ConnectorError) as refused:
        await connector(lambda request: answer).complete(START, {"referral": "nope"})

    assert refused.value.code == "invalid_referral"


async def test_referral_lookup_is_asked_again_after_a_503() -> None:
    answers = [
        httpx.Response(503),
        httpx.Response(
            200, json={"authorizations": [utilityapi_authorization(uid="48213")], "next": None}
        ),
    ]

    result = await connector(lambda request: answers.pop(0)).complete(START, {"referral": "r"})

    assert result.utility_authorization_ref == "48213"
    assert answers == []


async def test_referral_lookup_failing_every_time_is_utility_down() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": "utility_down"})

    with pytest.raises(ConnectorError) as failed:
        await connector(answer).complete(START, {"referral": "r"})

    assert (failed.value.code, failed.value.retryable) == ("utility_down", True)
    assert len(calls) == 3


async def test_refused_token_is_not_asked_again() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={"error": "invalid_token"})

    with pytest.raises(ConnectorError) as failed:
        await connector(answer).complete(START, {"referral": "r"})

    assert failed.value.retryable is False
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        ("access_denied", "access_denied", False),
        ("utility_down", "utility_down", True),
        ("temporarily_unavailable", "temporarily_unavailable", True),
        ("access_invalid", "access_invalid", False),
        ("access_locked", "access_locked", False),
        ("invalid_request", "invalid_request", False),
        ("x" * 300, "authorization_failed", False),
    ],
)
def test_form_errors_become_attempt_error_codes(error: str, code: str, retryable: bool) -> None:
    failure = form_error(error, "described")

    assert (failure.code, failure.retryable) == (code, retryable)
    assert len(failure.code) <= 60  # utility_authorizations.error_code


async def test_revoke_posts_to_the_authorizations_revoke_endpoint() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=utilityapi_authorization(is_revoked=True))

    await connector(answer).revoke(Grant("12345", TOKENS))

    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/v2/authorizations/12345/revoke")


async def test_usage_comes_from_the_intervals_endpoint_in_utc_and_kwh() -> None:
    seen: list[httpx.Request] = []
    listing = {
        "intervals": [
            {
                "meter_uid": "321",
                "readings": [
                    {
                        "start": "2026-01-01T23:00:00-05:00",
                        "end": "2026-01-01T23:15:00-05:00",
                        "kwh": 9.0,
                        "datapoints": [{"type": "kwh", "unit": "kwh", "value": 1.5}],
                    },
                    {
                        "start": "2026-01-02T00:00:00-05:00",
                        "end": "2026-01-02T00:15:00-05:00",
                        "kwh": 2.0,
                    },
                    {
                        "start": "2026-01-01T21:00:00-05:00",
                        "end": "2026-01-01T21:15:00-05:00",
                        "kwh": 7.0,
                    },
                ],
            }
        ],
        "next": None,
    }

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=listing)

    start, end = datetime(2026, 1, 2, 3, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)
    intervals = await connector(answer).fetch_usage(TOKENS, f"{API}/api/v2/meters/321", start, end)

    assert dict(seen[0].url.params) == {
        "meters": "321",
        "start": "2026-01-02T03:00:00+00:00",
        "end": "2026-01-03T00:00:00+00:00",
    }
    # UtilityAPI's readings are the meter's net energy.
    assert [(i.start, i.duration_seconds, i.value, i.direction) for i in intervals] == [
        (datetime(2026, 1, 2, 4, tzinfo=UTC), 900, 1.5, "net"),
        (datetime(2026, 1, 2, 5, tzinfo=UTC), 900, 2.0, "net"),
    ]


def test_meter_listing_skips_archived_meters_and_counts_a_service_once() -> None:
    listing = {
        "meters": [
            meter("1", "SID-1"),
            meter("2", "SID-1"),  # the same service, listed again
            meter("3", "SID-2", is_archived=True),
            meter("4", None),
            {"uid": "5"},
            "not a meter",
        ],
        "next": None,
    }

    found = meters_in_listing(listing, f"{API}/api/v2/meters")

    assert [m.utility_meter_id for m in found] == ["SID-1", "703437804", "5"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "10 Main St, Nanuet, NY 10954",
            ServiceAddress("10 Main St", None, "Nanuet", "NY", "10954"),
        ),
        (
            "4 Elm St, Unit 2, Rear, Huntington, ny 11743-1234",
            ServiceAddress("4 Elm St", "Unit 2, Rear", "Huntington", "NY", "11743-1234"),
        ),
        ("Somewhere without commas", ServiceAddress(street_1="Somewhere without commas")),
        (None, ServiceAddress()),
    ],
)
def test_service_address_is_read_into_its_parts(text: str | None, expected: ServiceAddress) -> None:
    assert parse_service_address(text) == expected


@given(st.text(max_size=300))
def test_any_service_address_text_is_read_without_error(text: str) -> None:
    address = parse_service_address(text)

    assert address.street_1 is None or len(address.street_1) <= 200


def test_intervals_without_energy_or_with_bad_times_are_left_out() -> None:
    listing = {
        "intervals": [
            {
                "readings": [
                    {"start": "2026-01-02T00:00:00Z", "end": "2026-01-02T00:15:00Z"},
                    {"start": "yesterday", "end": "2026-01-02T00:15:00Z", "kwh": 1},
                    {"start": "2026-01-02T00:15:00Z", "end": "2026-01-02T00:00:00Z", "kwh": 1},
                ]
            },
            "junk",
        ]
    }
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)

    assert intervals_in_listing(listing, start, end) == []


def test_webhook_signature_is_sha256_of_secret_salt_and_body() -> None:
    body = b'{"events": []}'

    assert (
        webhook_signature("s3cret", "0934ujsd", body)
        == hashlib.sha256(b's3cret.0934ujsd.{"events": []}').hexdigest()
    )


@given(
    secret=st.text(min_size=1, max_size=40),
    salt=st.text(min_size=1, max_size=40),
    body=st.binary(max_size=200),
    other=st.binary(max_size=200),
)
def test_a_signature_holds_for_its_body_only(
    secret: str, salt: str, body: bytes, other: bytes
) -> None:
    signature = webhook_signature(secret, salt, body)

    assert webhook_signature_ok([secret], salt, signature, body)
    assert webhook_signature_ok(["another", secret], salt, signature.upper(), body)
    assert webhook_signature_ok([secret], salt, signature, other) == (other == body)
    assert not webhook_signature_ok([secret], None, signature, body)
    assert not webhook_signature_ok([secret], salt, None, body)
    assert not webhook_signature_ok([], salt, signature, body)


async def test_meters_on_further_pages_are_found_but_only_at_utilityapi() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/api/v2/authorizations":
            listing = {"meters": [meter("1", "SID-1")], "next": f"{API}/api/v2/meters?page=2"}
            body = utilityapi_authorization(meters=listing)
            return httpx.Response(200, json={"authorizations": [body], "next": None})
        page = {"meters": [meter("2", "SID-2")], "next": "https://elsewhere.example/steal"}
        return httpx.Response(200, json=page)

    result = await connector(answer).complete(START, {"referral": "r"})

    assert [m.utility_meter_id for m in result.meters] == ["SID-1", "SID-2"]
    assert seen[1] == f"{API}/api/v2/meters?page=2"
    assert len(seen) == 2, "a next link away from UtilityAPI is not followed with our token"


@pytest.mark.parametrize(
    ("scope", "granted"),
    [({}, None), (None, None), ({"months": 12, "bills": True}, '{"bills":true,"months":12}')],
)
async def test_the_scope_the_customer_granted_is_kept(scope: object, granted: str | None) -> None:
    body = utilityapi_authorization(scope=scope)
    answer = httpx.Response(200, json={"authorizations": [body], "next": None})

    result = await connector(lambda request: answer).complete(START, {"referral": "r"})

    assert result.tokens is not None and result.tokens.scope == granted


# --- against UtilityAPI's own example (reference data) --------------------------------------------


@pytest.fixture(scope="module")
def utilityapis_example() -> dict[str, Any]:
    """UtilityAPI's documented example authorization object."""
    example: dict[str, Any] = json.loads(green_button_file("eddie-authorization.json").read_text())
    return example


def keys_of(value: object) -> object:
    """The keys of a JSON document, nested, without its values (a list by its first item)."""
    if isinstance(value, dict):
        return {key: keys_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [keys_of(item) for item in value[:1]]
    return None


def test_our_authorization_answers_have_the_keys_of_utilityapis_example(
    utilityapis_example: dict[str, Any],
) -> None:
    assert keys_of(utilityapi_authorization()) == keys_of(utilityapis_example)


async def test_utilityapis_example_authorization_is_read_as_it_comes(
    utilityapis_example: dict[str, Any],
) -> None:
    # The example is a PG&E authorization, a utility UtilityAPI serves that Connect does not list.
    pge = Utility("pge-utilityapi", "Pacific Gas & Electric", "PG&E", "CAISO", Protocol.UTILITYAPI)
    answer = httpx.Response(200, json={"authorizations": [utilityapis_example], "next": None})

    result = await connector(lambda request: answer, pge).complete(START, {"referral": "r"})

    assert result.utility_authorization_ref == "12345"
    assert result.resource_uri == f"{API}/api/v2/authorizations/12345"
    assert result.expires_at == datetime(2019, 1, 1, 12, 30, 24, 653422, tzinfo=UTC)
    assert result.tokens == Tokens(
        access_token="12345", refresh_token=None, expires_at=None, scope=None
    )
    assert (result.meters, result.meters_pending) == ((), True)


# --- data collection ------------------------------------------------------------------------------


async def test_collection_is_asked_for_in_batches_with_ongoing_monitoring() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "meters": []})

    uris = [f"{API}/api/v2/meters/{uid}" for uid in range(250)]
    await connector(answer).start_collection(uris + uris[:3])  # a meter named twice, once

    posts = [(r.method, r.url.path, json.loads(r.content)) for r in seen]
    assert [path for _, path, _ in posts] == [
        "/api/v2/meters/historical-collection",
        "/api/v2/meters/ongoing-monitoring",
    ] * 3
    assert {method for method, _, _ in posts} == {"POST"}
    batches = [body["meters"] for _, _, body in posts[::2]]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert [uid for batch in batches for uid in batch] == [str(uid) for uid in range(250)]
    assert {body["frequency"] for _, _, body in posts[1::2]} == {"daily"}
    assert all(r.headers["authorization"] == "Bearer token-1" for r in seen)


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (503, {}, "utility_down", True),
        (429, {}, "utility_down", True),
        (402, {"error": "payment_required"}, "payment_required", True),
        (400, {"error": "expired_or_revoked"}, "access_revoked", False),
        (400, {"error": "invalid_param"}, "collection_refused", False),
    ],
)
async def test_a_refused_collection_says_whether_asking_later_may_work(
    status: int, body: dict[str, Any], code: str, retryable: bool
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with pytest.raises(ConnectorError) as refused:
        await connector(answer).start_collection([f"{API}/api/v2/meters/1"])

    assert (refused.value.code, refused.value.retryable) == (code, retryable)


@pytest.mark.parametrize(
    ("meter", "state"),
    [
        ({"is_activated": False, "status": "updated", "notes": []}, "COLLECTING"),
        ({"is_activated": True, "status": "pending", "notes": []}, "COLLECTING"),
        ({"is_activated": True, "status": "updated", "notes": []}, "READY"),
        (
            {"is_activated": True, "status": "updated", "notes": [{"type": "intervals_empty"}]},
            "READY",
        ),
        (
            {"is_activated": True, "status": "updated", "notes": [{"type": "access_invalid"}]},
            "FAILED",
        ),
        ({"is_activated": True, "status": "updated", "notes": None}, "READY"),
    ],
)
def test_collection_state_is_read_from_activation_status_and_notes(
    meter: dict[str, Any], state: str
) -> None:
    assert collection_state(meter) == state


async def test_collection_states_name_each_meter_by_its_usage_point_uri() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.params["uids"] == "7,8"
        return httpx.Response(
            200,
            json={
                "meters": [
                    {"uid": "7", "is_activated": True, "status": "updated", "notes": []},
                    {"uid": 8, "is_activated": True, "status": "pending", "notes": []},
                ],
                "next": None,
            },
        )

    uris = [f"{API}/api/v2/meters/7", f"{API}/api/v2/meters/8"]
    states = await connector(answer).collection_states(uris)

    assert states == {uris[0]: "READY", uris[1]: "COLLECTING"}


async def test_meters_listed_later_are_asked_for_with_their_meter_blocks_expanded() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=utilityapi_authorization())

    await connector(answer).pending_meters("48213")

    assert dict(seen[0].url.params) == {"include": "meters", "expand_meter_blocks": "true"}
