"""The one factory for outgoing HTTP clients: time-outs, TLS (client certificates), no redirects."""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path

import httpx


class HttpClientFactory:
    """Tests swap `transport` to route calls into an in-process app instead of the network."""

    def __init__(
        self, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout = timeout
        self.transport = transport

    def client(
        self,
        *,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        ca_bundle: Path | None = None,
        timeout: float | None = None,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout or self.timeout),
            verify=_ssl_context(client_cert, client_key, ca_bundle),
            follow_redirects=False,
            transport=self.transport,
            headers={"User-Agent": "LeapConnect/0.1"},
        )


# Built once and shared by every client: building one reads the whole CA store, which blocks the
# event loop (180 ms a time on the busy 2-core test machine) on every utility call otherwise.
@cache
def _ssl_context(
    client_cert: Path | None, client_key: Path | None, ca_bundle: Path | None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    if client_cert is not None:
        # Mutual TLS: PG&E, for one, demands a client certificate on every server-to-server call.
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context
