"""API keys: who may call what, how often, and how refusals look."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from leap_connect.kit.ratelimit import RateLimiter
from leap_connect.models import ApiKey, utc_now
from leap_connect.runtime import Runtime
from tests.functional.api.conftest import ApiPartner, assert_problem, bearer, issue_key

SEARCH = "/v2/meters/search"


async def test_call_without_a_key_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    response = await client.post(SEARCH, json={})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in body["detail"]


async def test_unknown_key_is_401(client: httpx.AsyncClient, acme: ApiPartner) -> None:
    forged = acme.token[:-12] + "AAAAAAAA_" + acme.token[-3:]
    for token in (forged, "lc_live_nonsense", "", "lc_live_\xe9t\xe9"):
        header = f"Bearer {token}".encode("latin-1")
        response = await client.post(SEARCH, json={}, headers={"Authorization": header})
        assert_problem(response, 401)


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, acme: ApiPartner, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        key = (await session.execute(select(ApiKey))).scalar_one()
        key.revoked_at = utc_now()
    assert_problem(await client.post(SEARCH, json={}, headers=acme.headers), 401)


async def test_key_without_the_scope_is_403_naming_the_scope(
    client: httpx.AsyncClient, acme: ApiPartner, runtime: Runtime
) -> None:
    reader = bearer(await issue_key(runtime, acme.partner, ["meters:read"]))
    assert (await client.post(SEARCH, json={}, headers=reader)).status_code == 200
    refused = await client.patch(
        "/v2/meters/partner_reference",
        json={"updates": [{"meter_id": "x", "partner_reference": "y"}]},
        headers=reader,
    )
    assert "meters:write" in assert_problem(refused, 403)["detail"]
    for method, path in [
        ("GET", "/v2/connect/flows"),
        ("GET", "/v2/connect/sessions"),
        ("POST", "/v2/connect/links"),
    ]:
        assert_problem(await client.request(method, path, json={}, headers=reader), 403)


async def test_a_call_records_when_the_key_was_last_used(
    client: httpx.AsyncClient, acme: ApiPartner, runtime: Runtime
) -> None:
    before = utc_now()
    assert (await client.post(SEARCH, json={}, headers=acme.headers)).status_code == 200
    async with runtime.sessionmaker() as session:
        key = (await session.execute(select(ApiKey))).scalar_one()
    assert key.last_used_at is not None and key.last_used_at >= before


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    client: httpx.AsyncClient, acme: ApiPartner, globex: ApiPartner, runtime: Runtime
) -> None:
    runtime.api_limiter = RateLimiter("3/minute")
    for _ in range(3):
        assert (await client.post(SEARCH, json={}, headers=acme.headers)).status_code == 200
    limited = await client.post(SEARCH, json={}, headers=acme.headers)
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # The limit is per key: another key is not held back.
    assert (await client.post(SEARCH, json={}, headers=globex.headers)).status_code == 200


async def test_malformed_requests_are_problems_naming_the_field(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    not_json = await client.post(
        SEARCH,
        content=b"{not json",
        headers={**acme.headers, "content-type": "application/json"},
    )
    assert_problem(not_json, 422)
    too_big = assert_problem(
        await client.post(SEARCH, json={"page_size": 501}, headers=acme.headers), 422
    )
    assert too_big["errors"][0]["field"] == "page_size"
    unknown_filter = assert_problem(
        await client.post(SEARCH, json={"partner_reference": "x"}, headers=acme.headers), 422
    )
    assert unknown_filter["errors"][0]["field"] == "partner_reference"
    bad_id = assert_problem(await client.get("/v2/meters/not-a-uuid", headers=acme.headers), 422)
    assert bad_id["errors"][0]["field"] == "path.meter_id"


async def test_unknown_paths_and_methods_under_v2_are_problems(
    client: httpx.AsyncClient, acme: ApiPartner
) -> None:
    assert_problem(await client.get("/v2/nothing/here/at-all", headers=acme.headers), 404)
    assert_problem(await client.delete(SEARCH, headers=acme.headers), 405)
