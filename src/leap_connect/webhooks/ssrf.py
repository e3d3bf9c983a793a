"""Where webhooks may go in production: https to public addresses only, checked when connecting."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Host name and port to the addresses it resolves to (tests swap in a fixed table)."""

LOCAL_HOST_NAMES = ("localhost", "localhost.localdomain")


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
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    if not address.is_global:
        # Shared address space (100.64.0.0/10) and the like: not on the public internet.
        return "not a public address"
    return None


def url_problem(url: str, *, development: bool) -> str | None:
    """Why `url` cannot be a webhook endpoint, judged without DNS; None when it can.

    In production only https is allowed, and a literal address or local host name is refused up
    front; names are checked again on the addresses they resolve to at each delivery.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f'"{url}" is not a URL.'
    if port == 0:
        return "The URL's port must be 1 to 65535."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "The URL must be an absolute https:// URL."
    if parts.username or parts.password:
        return "The URL must not carry a user name or password; use `headers` for credentials."
    if development:
        return None
    if parts.scheme != "https":
        return "The URL must start with https://."
    host = parts.hostname.rstrip(".").lower()
    if host in LOCAL_HOST_NAMES or host.endswith(".localhost"):
        return f"{host} is a local host name; webhooks go to public addresses only."
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return None
    problem = address_problem(literal)
    return f"{literal} is {problem}; webhooks go to public addresses only." if problem else None


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

    def __init__(self, resolver: Resolver = resolve) -> None:
        self._resolve = resolver
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
        except OSError as error:
            raise httpcore.ConnectError(f"{host} could not be resolved: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            problem = address_problem(ipaddress.ip_address(address.split("%", 1)[0]))
            if problem is not None:
                # One bad address refuses the host: a mix is how rebinding attacks hedge.
                shown = host if literal else f"{host} resolves to {address}, which"
                raise RefusedTarget(f"{shown} is {problem}")
        return addresses


class PublicAddressesOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting through `PublicAddressesOnly`."""

    def __init__(self, *, limits: httpx.Limits, resolver: Resolver = resolve) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend, so its connection pool is rebuilt with ours. `_pool` is
        # private, but httpx is pinned and our SSRF tests fail loudly if it stops being used.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicAddressesOnly(resolver),
        )
