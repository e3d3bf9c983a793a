"""Which webhook URLs and addresses are refused in production, and that nothing refused connects."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.webhooks.ssrf import (
    PublicAddressesOnly,
    RefusedTarget,
    address_problem,
    url_problem,
)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.1.2.3", "a private address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 wrapping 127.0.0.1
        ("0.0.0.0", "a private address"),
        ("100.64.0.1", "not a public address"),
        ("224.0.0.1", "not a unicast address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_only_public_unicast_addresses_are_allowed(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@given(st.ip_addresses(network="10.0.0.0/8") | st.ip_addresses(network="192.168.0.0/16"))
def test_every_private_ipv4_address_is_refused(address: ipaddress.IPv4Address) -> None:
    assert address_problem(address) == "a private address"


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://user:password@partner.example/hook",
        "https://partner.example:0/hook",
        "https://partner.example:99999/hook",
        "partner.example/hook",
    ],
)
def test_urls_refused_in_production(url: str) -> None:
    assert url_problem(url, development=False) is not None


def test_public_https_urls_are_accepted_in_production() -> None:
    assert url_problem("https://partner.example/webhooks?x=1", development=False) is None
    assert url_problem("https://8.8.8.8:8443/hook", development=False) is None


def test_development_allows_localhost_over_plain_http() -> None:
    assert url_problem("http://127.0.0.1:8001/hook", development=True) is None
    assert url_problem("http://localhost/hook", development=True) is None
    assert url_problem("ftp://localhost/hook", development=True) is not None


class NeverConnects(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connected_to: list[str] = []

    async def connect_tcp(
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        self.connected_to.append(host)
        raise httpcore.ConnectError("test backend")


def guarded(table: dict[str, list[str]]) -> tuple[PublicAddressesOnly, NeverConnects]:
    async def resolver(host: str, port: int) -> list[str]:
        return table[host]

    backend = PublicAddressesOnly(resolver)
    inner = NeverConnects()
    backend._inner = inner  # type: ignore[assignment]
    return backend, inner


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (["127.0.0.1"], "partner.example resolves to 127.0.0.1, which is a loopback address"),
        (["93.184.215.14", "10.0.0.7"], "partner.example resolves to 10.0.0.7, which is a private"),
        (["::1"], "partner.example resolves to ::1, which is a loopback address"),
    ],
)
async def test_a_name_resolving_to_any_non_public_address_is_refused_before_connecting(
    addresses: list[str], message: str
) -> None:
    backend, inner = guarded({"partner.example": addresses})

    with pytest.raises(RefusedTarget, match=message):
        await backend.connect_tcp("partner.example", 443)

    assert inner.connected_to == []


async def test_a_public_name_is_connected_to_by_the_address_that_was_checked() -> None:
    backend, inner = guarded({"partner.example": ["93.184.215.14"]})

    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("partner.example", 443)

    assert inner.connected_to == ["93.184.215.14"]
