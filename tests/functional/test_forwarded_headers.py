"""`leap-connect serve` believes `X-Forwarded-For` only from the proxies it is told to trust."""

from __future__ import annotations

from pathlib import Path

import httpx
import lxml.html

from leap_connect.portal.auth import SIGN_IN_LIMIT_PER_CLIENT
from tests.support.server import leap_connect_server

FORWARDED = {"X-Forwarded-For": "203.0.113.9"}
# The sign-in limit per client is what a client sees of the address the server gave it.
PER_CLIENT = int(SIGN_IN_LIMIT_PER_CLIENT.split()[0])


async def sign_in(portal: httpx.AsyncClient, number: int, headers: dict[str, str]) -> int:
    page = await portal.get("/portal/sign-in", headers=headers)
    [csrf] = lxml.html.fromstring(page.text).xpath("//input[@name='csrf_token']/@value")
    response = await portal.post(
        "/portal/sign-in",
        data={"email": f"guess-{number}@acme.example", "password": "wrong", "csrf_token": csrf},
        headers=headers,
    )
    return response.status_code


async def spend_the_limit_as_forwarded(portal: httpx.AsyncClient) -> None:
    for number in range(PER_CLIENT):
        assert await sign_in(portal, number, FORWARDED) == 400
    assert await sign_in(portal, PER_CLIENT, FORWARDED) == 429


async def test_by_default_a_forwarded_address_is_ignored_and_the_peer_is_the_client(
    database_url: str, tmp_path: Path
) -> None:
    with leap_connect_server(database_url, tmp_path) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as portal:
            await spend_the_limit_as_forwarded(portal)
            # Without the header: the same client, 127.0.0.1, whose attempts are spent.
            assert await sign_in(portal, PER_CLIENT + 1, {}) == 429


async def test_a_trusted_proxy_names_the_client(database_url: str, tmp_path: Path) -> None:
    env = {"LEAP_CONNECT_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with leap_connect_server(database_url, tmp_path, env) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as portal:
            await spend_the_limit_as_forwarded(portal)
            # Without the header the client is 127.0.0.1, which has spent nothing.
            assert await sign_in(portal, PER_CLIENT + 1, {}) == 400
