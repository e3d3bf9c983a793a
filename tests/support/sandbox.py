"""The sandbox Green Button utility in a process of its own, and the variables that point at it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.certificates import TlsFiles
from tests.support.server import free_port, running


@contextmanager
def sandbox_process(
    tmp_path: Path,
    callback_base: str,
    tls: TlsFiles | None = None,
    *,
    utilities: tuple[str, ...] = ("pge",),
) -> Iterator[str]:
    """`leap-connect sandbox` on a free port, accepting the callbacks of `utilities`; yields
    PG&E's base URL at it (the others are beside it: .../sandbox/sce)."""
    port = free_port()
    scheme = "https" if tls else "http"
    base = f"{scheme}://127.0.0.1:{port}"
    args = ["sandbox", "--port", str(port)]
    for utility_id in utilities:
        args += ["--redirect-uri", f"{callback_base}/connect/callback/{utility_id}"]
    if tls:
        args += [
            "--ssl-certfile",
            str(tls.server_cert),
            "--ssl-keyfile",
            str(tls.server_key),
            "--ssl-client-ca",
            str(tls.ca),
        ]
    with running(
        args,
        env={},
        health_url=f"{base}/",
        log_path=tmp_path / "sandbox.log",
        probe=httpx.Client(verify=client_context(tls), timeout=1) if tls else None,
    ):
        yield f"{base}/sandbox/pge"


def client_context(tls: TlsFiles, *, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca))
    if with_certificate:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    return context


def pge_variables(
    sandbox: str,
    tls: TlsFiles | None = None,
    *,
    with_certificate: bool = True,
    utility_id: str = "pge",
) -> dict[str, str]:
    """The settings that send a Green Button utility's customers (PG&E's unless `utility_id`
    says another) to `sandbox`, that utility's base URL, instead of the built-in one."""
    prefix = f"LEAP_CONNECT_UTILITIES__{utility_id.upper()}__"
    variables = {
        "LEAP_CONNECT_SANDBOX": "false",
        f"{prefix}AUTHORIZE_URL": f"{sandbox}/oauth/authorize",
        f"{prefix}TOKEN_URL": f"{sandbox}/oauth/token",
        f"{prefix}REVOKE_URL": f"{sandbox}/oauth/revoke",
        f"{prefix}CLIENT_ID": "leap-connect-sandbox",
        f"{prefix}CLIENT_SECRET": "sandbox-secret",
    }
    if tls:
        variables[f"{prefix}CA_BUNDLE"] = str(tls.ca)
        if with_certificate:
            variables[f"{prefix}CLIENT_CERT"] = str(tls.client_cert)
            variables[f"{prefix}CLIENT_KEY"] = str(tls.client_key)
    return variables
