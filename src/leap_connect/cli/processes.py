"""`leap-connect serve`, `worker`, `demo` and `sandbox`: the long-running processes."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, cast

import typer

from leap_connect.cli.common import fail, load_settings

# Each process imports what it runs inside its command (uvicorn, the app, every job handler, the
# sandbox custodians): hundreds of modules that would slow every other command's start.


def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers")] = 1,
    timeout_keep_alive: Annotated[
        int,
        typer.Option(
            "--timeout-keep-alive",
            help="Close a connection idle this many seconds between requests; behind a load"
            " balancer, more than its idle time-out",
        ),
    ] = 5,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            "--limit-concurrency",
            help="Answer 503 at once beyond this many open connections (each process)",
        ),
    ] = 1000,
) -> None:
    """Serve the journey, the API and the portal with uvicorn.

    Each request's line and headers must arrive within LEAP_CONNECT_REQUEST_HEADER_TIMEOUT_SECONDS
    and its body within LEAP_CONNECT_REQUEST_BODY_TIMEOUT_SECONDS, so slow clients cost sockets,
    which --limit-concurrency bounds.
    """
    if timeout_keep_alive < 1 or limit_concurrency < 1:
        raise fail("--timeout-keep-alive and --limit-concurrency must be at least 1")
    import uvicorn

    from leap_connect.cli.http_protocol import BoundedHeadersProtocol

    settings = load_settings()
    # A partial, not a subclass made here: with --workers, each process unpickles it.
    protocol = partial(
        BoundedHeadersProtocol, header_timeout=settings.request_header_timeout_seconds
    )
    uvicorn.run(
        "leap_connect.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=cast("type[asyncio.Protocol]", protocol),
        timeout_keep_alive=timeout_keep_alive,
        limit_concurrency=limit_concurrency,
        # Only named proxies may say who the client is: anyone else could pick their own address
        # (and with it their rate-limit key). uvicorn's own default would trust 127.0.0.1.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        access_log=False,
    )


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs due now, then exit")] = False,
    lease_seconds: Annotated[
        float,
        typer.Option("--lease-seconds", help="How long a job is held before others may take it"),
    ] = 60.0,
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", help="How often to look for due jobs when idle")
    ] = 1.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Jobs run at once")] = 10,
) -> None:
    """Run background jobs until SIGTERM or Ctrl-C (a second one abandons running jobs).

    Handlers register from every `leap_connect.<feature>.tasks` module, plus the modules named,
    comma-separated, in LEAP_CONNECT_JOB_MODULES.
    """
    if lease_seconds <= 0 or poll_seconds <= 0 or concurrency < 1:
        raise fail("--lease-seconds and --poll-seconds must be positive, --concurrency at least 1")
    from leap_connect.jobs.worker import run_worker

    settings = load_settings()
    asyncio.run(
        run_worker(
            settings,
            once=once,
            lease=timedelta(seconds=lease_seconds),
            poll_interval=poll_seconds,
            batch_size=concurrency,
        )
    )


def demo(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Run everything with no configuration: SQLite, the sandbox utilities and a demo partner."""
    from leap_connect.demo.run import run_demo

    settings = load_settings()
    base_url = (
        settings.base_url if "LEAP_CONNECT_BASE_URL" in os.environ else f"http://{host}:{port}"
    )
    settings = settings.model_copy(update={"sandbox": True, "base_url": base_url})
    asyncio.run(run_demo(settings, host=host, port=port))


def sandbox(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 9100,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri", help="Allowed redirect URI (repeat); default: a local serve"
        ),
    ] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret: Annotated[str | None, typer.Option("--client-secret")] = None,
    public_base_url: Annotated[str | None, typer.Option("--public-base-url")] = None,
    ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="Serve https")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile")] = None,
    ssl_client_ca: Annotated[
        Path | None,
        typer.Option("--ssl-client-ca", help="Require client certificates from this CA"),
    ] = None,
) -> None:
    """Run the sandbox Green Button data custodians alone (at /sandbox/pge, /sandbox/sce, ...)."""
    from leap_connect.sandbox.green_button import (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        RegisteredClient,
        run_standalone,
    )

    uris = tuple(redirect_uri or ())
    if not uris:
        uris = tuple(
            f"http://127.0.0.1:8000/connect/callback/{utility_id}"
            for utility_id in ("pge", "sce", "sdge")
        )
    scheme = "https" if ssl_certfile else "http"
    run_standalone(
        host,
        port,
        (public_base_url or f"{scheme}://{host}:{port}").rstrip("/"),
        [
            RegisteredClient(
                client_id=client_id or SANDBOX_CLIENT_ID,
                client_secret=client_secret or SANDBOX_CLIENT_SECRET,
                redirect_uris=uris,
            )
        ],
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        ssl_client_ca=str(ssl_client_ca) if ssl_client_ca else None,
    )
