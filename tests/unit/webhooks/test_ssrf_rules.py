"""Which webhook URLs and addresses are refused in production, and that nothing refused connects."""

from __future__ import annotations

import asyncio
import ipaddress

import httpcore
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.webhooks.ssrf import (
    PublicAddressesOnly,
    RefusedTarget,
    address_problem,
    refused_address,
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
        ("fec0::1", "a site-local address"),
        ("feff:ffff::1", "a site-local address"),
        ("168.63.129.16", "a cloud metadata address"),
        ("192.0.0.192", "a cloud metadata address"),
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
    assert url_problem("http://[::1]:8001/hook", development=True) is None
    assert url_problem("ftp://localhost/hook", development=True) is not None


@pytest.mark.parametrize("development", [False, True])
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://[fe80::1%25eth0]/hook", "fe80::1%eth0 is a link-local address"),
        ("https://[fec0::1]/hook", "fec0::1 is a site-local address"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a private address"),
        ("https://168.63.129.16/machine", "168.63.129.16 is a cloud metadata address"),
        ("https://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe is a link-local address"),
        ("https://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("https://a..b/", "the host name a..b has an empty label"),
        ("https://.partner.example/", "the host name .partner.example has an empty label"),
        (f"https://{'a' * 64}.example/", "has a label longer than 63 characters"),
        (f"https://{'abcdefgh.' * 28}example/", "the host name is longer than 253 characters"),
        ("https://0177.0.0.1/", "the URL is not valid: Invalid IPv4 address"),
        ("https://2130706433/", "the host 2130706433 ends in a number"),
        ("https://0x7f.0.0.1/", "the host 0x7f.0.0.1 ends in a number"),
        ("https://partner.0x7f/", "the host partner.0x7f ends in a number"),
        ("https://exa mple.com/", "may hold only letters, digits, hyphens and underscores"),
        ("https://xn--/", "the URL is not valid"),
        ("https://partner.example:99999/", "the URL's port must be 1 to 65535"),
        ("https://partner.example:0/", "the URL's port must be 1 to 65535"),
    ],
)
def test_urls_refused_in_every_mode(url: str, problem: str, development: bool) -> None:
    found = url_problem(url, development=development)

    assert found is not None and problem in found


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example./hooks",
        "https://Partner.Example/hooks",
        "https://bücher.example/hooks",
        "https://under_score.partner.example/hooks",
        "https://[2606:4700:4700::1111]/hooks",
    ],
)
def test_names_dns_can_look_up_are_accepted(url: str) -> None:
    assert url_problem(url, development=False) is None


@given(st.ip_addresses(network="169.254.0.0/16") | st.ip_addresses(network="fe80::/10"))
def test_no_link_local_address_is_allowed_even_in_development(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert refused_address(address, development=True) == "a link-local address"


def test_development_allows_loopback_and_nothing_else_that_is_not_public() -> None:
    assert refused_address(ipaddress.ip_address("127.0.0.1"), development=True) is None
    assert refused_address(ipaddress.ip_address("::1"), development=True) is None
    assert refused_address(ipaddress.ip_address("127.0.0.1"), development=False) is not None
    assert refused_address(ipaddress.ip_address("192.168.1.1"), development=True) is not None


class NeverConnects(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connected_to: list[str] = []

    async def connect_tcp(
        self, host: str, port: int, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        self.connected_to.append(host)
        raise httpcore.ConnectError("test backend")


def guarded(
    table: dict[str, list[str]], *, development: bool = False
) -> tuple[PublicAddressesOnly, NeverConnects]:
    async def resolver(host: str, port: int) -> list[str]:
        return table[host]

    backend = PublicAddressesOnly(resolver, development=development)
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


async def test_in_development_a_name_resolving_to_loopback_connects_but_to_metadata_does_not() -> (
    None
):
    backend, inner = guarded(
        {"receiver.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]}, development=True
    )

    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("receiver.test", 8001)
    with pytest.raises(
        RefusedTarget, match=r"resolves to 169\.254\.169\.254, which is a link-local"
    ):
        await backend.connect_tcp("metadata.test", 80)

    assert inner.connected_to == ["127.0.0.1"]


async def test_a_name_idna_cannot_encode_is_a_connection_failure_not_a_crash() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return await asyncio.get_running_loop().getaddrinfo(host, port)  # type: ignore[return-value]

    backend = PublicAddressesOnly(resolver)

    with pytest.raises(httpcore.ConnectError, match="could not be resolved"):
        await backend.connect_tcp("a..b", 443)
