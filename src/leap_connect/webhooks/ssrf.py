"""Where webhooks may go: URLs httpx can send to, public addresses, checked again when connecting.

`url_problem` is the one judge of a URL, at registration and before every attempt, so a URL that
is accepted can be delivered to (or its attempt is refused with a reason). Development allows
plain http and loopback, for a receiver on the developer's machine; every other rule holds in
every mode.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Host name and port to the addresses it resolves to (tests swap in a fixed table)."""

LOCAL_HOST_NAMES = ("localhost", "localhost.localdomain")
LOOPBACK = "a loopback address"
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated (RFC 3879), yet routed inside some
# Cloud metadata services on addresses the other rules do not already refuse (Azure's WireServer,
# Oracle Cloud's), and those they do, for the record (AWS, GCP, Alibaba Cloud, AWS over IPv6).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "168.63.129.16",
        "192.0.0.192",
        "169.254.169.254",
        "100.100.100.200",
        "fd00:ec2::254",
    )
)
# A host name's label after IDNA: what DNS resolvers (and Python's `idna` codec) accept.
HOST_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")
MAX_HOST_NAME = 253
# A last label that is a number makes a host an IPv4 address in the WHATWG URL standard, which
# resolvers follow too (inet_aton reads 0177.0.0.1 and 2130706433 as 127.0.0.1).
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class RefusedTarget(Exception):
    """The URL or the address it resolves to is not one webhooks may be sent to."""


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("a loopback address"), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 reaches the IPv4 host: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return address_problem(embedded)
    if address.is_loopback:
        return LOOPBACK
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv6Address) and address in SITE_LOCAL:
        return "a site-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if not address.is_global:
        # Shared address space (100.64.0.0/10) and the like: not on the public internet.
        return "not a public address"
    return None


def refused_address(address: IPAddress, *, development: bool) -> str | None:
    """Why webhooks may not go to `address`: development allows loopback, and nothing else."""
    problem = address_problem(address)
    if development and problem == LOOPBACK:
        return None
    return problem


def url_problem(url: str, *, development: bool) -> str | None:
    """Why webhooks cannot be sent to `url`, judged without DNS; None when they can.

    The URL is parsed by httpx, which sends the webhook. A literal address is held to the address
    rules here; a name must be one DNS can look up, and is checked again on the addresses it
    resolves to each time a connection is opened.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes the IDNA name, which fails on a malformed one
    except (httpx.InvalidURL, ValueError) as invalid:  # IDNA errors are UnicodeErrors
        return f"the URL is not valid: {invalid}"
    if parsed.scheme not in ("https", "http") or not host:
        return "the URL must be an absolute https:// URL"
    if parsed.userinfo:
        return "the URL must not carry a user name or password; use `headers` for credentials"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return "the URL's port must be 1 to 65535"
    if parsed.scheme != "https" and not development:
        return "webhooks are sent over https only"
    return _host_problem(parsed, development=development)


def _host_problem(parsed: httpx.URL, *, development: bool) -> str | None:
    host = parsed.raw_host.decode("ascii").lower()  # IDNA-encoded by httpx
    if ":" in host:  # only an IPv6 literal has colons
        try:
            literal: IPAddress = ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            return f"[{host}] is not a valid IPv6 address"
    else:
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            return _name_problem(host.removesuffix("."), development=development)
    problem = refused_address(literal, development=development)
    return f"{literal} is {problem}; webhooks go to public addresses only" if problem else None


def _name_problem(name: str, *, development: bool) -> str | None:
    labels = name.split(".")
    if len(name) > MAX_HOST_NAME:
        return f"the host name is longer than {MAX_HOST_NAME} characters"
    if any(not label for label in labels):
        return f"the host name {name} has an empty label (two dots in a row, or a leading one)"
    if any(len(label) > 63 for label in labels):
        return f"the host name {name} has a label longer than 63 characters"
    if not all(HOST_LABEL.match(label) for label in labels):
        return f"the host name {name} may hold only letters, digits, hyphens and underscores"
    if NUMERIC_LABEL.match(labels[-1]):
        return (
            f"the host {name} ends in a number but is not an IPv4 address written as four "
            "decimal numbers (like 192.0.2.1)"
        )
    if not development and (name in LOCAL_HOST_NAMES or name.endswith(".localhost")):
        return f"the host {name} is a local host name; webhooks go to public addresses only"
    return None


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PublicAddressesOnly(httpcore.AsyncNetworkBackend):
    """Connects only after checking every address the host resolves to, then to a checked one.

    Checking at connect time, on the very address connected to, leaves no gap for DNS rebinding
    (a name that resolves to a public address when checked and to 127.0.0.1 when used). TLS is
    still verified against the host name, which httpcore passes to `start_tls` separately.
    """

    def __init__(self, resolver: Resolver = resolve, *, development: bool = False) -> None:
        self._resolve = resolver
        self._development = development
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[tuple[typing.Any, ...]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._public_addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as failed:
                error = failed
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[tuple[typing.Any, ...]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("webhooks are never sent to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _public_addresses(self, host: str, port: int) -> list[str]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        try:
            addresses = [str(literal)] if literal else await self._resolve(host, port)
        except (OSError, UnicodeError) as error:  # UnicodeError: a name IDNA cannot encode
            raise httpcore.ConnectError(f"{host} could not be resolved: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            problem = refused_address(
                ipaddress.ip_address(address.split("%", 1)[0]), development=self._development
            )
            if problem is not None:
                # One bad address refuses the host: a mix is how rebinding attacks hedge.
                shown = host if literal else f"{host} resolves to {address}, which"
                raise RefusedTarget(f"{shown} is {problem}")
        return addresses


class PublicAddressesOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting through `PublicAddressesOnly`."""

    def __init__(
        self, *, limits: httpx.Limits, resolver: Resolver = resolve, development: bool = False
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend, so its connection pool is rebuilt with ours. `_pool` is
        # private, but httpx is pinned and our SSRF tests fail loudly if it stops being used.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicAddressesOnly(resolver, development=development),
        )
