"""`leap-connect demo`: migrate, seed the demo partner, print where to click, then serve."""

from __future__ import annotations

import asyncio

import typer
import uvicorn

from leap_connect.app import create_app, runtime_of_app
from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.demo.pages import router as thank_you_router
from leap_connect.demo.seed import DEMO_USER_EMAIL, DEMO_USER_PASSWORD, seed_demo
from leap_connect.jobs.worker import in_process_worker
from leap_connect.kit.crypto import Encryptor
from leap_connect.migrations import runner
from leap_connect.settings import Settings


async def run_demo(settings: Settings, *, host: str, port: int) -> None:
    await asyncio.to_thread(runner.upgrade, settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            partner = await seed_demo(
                session, settings, Encryptor(settings.encryption_keys.get_secret_value())
            )
    finally:
        await engine.dispose()
    _print_welcome(settings, partner.api_key, partner.links)
    app = create_app(settings, extra_routers=[thank_you_router])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False))
    # One process does it all: the background worker runs in the server's event loop.
    async with in_process_worker(runtime_of_app(app)):
        await server.serve()


def _print_welcome(settings: Settings, api_key: str, links: dict[str, str]) -> None:
    echo = typer.echo
    echo("")
    echo("Leap Connect demo")
    echo("=================")
    echo(f"Database:  {settings.resolved_database_url}")
    echo("Utilities: built-in sandbox (sign in as residential, commercial, partial, utility-down")
    echo("           or slow; the password is always: sandbox)")
    echo("")
    echo("Try a customer journey — open a link:")
    for label, url in links.items():
        echo(f"  {label}:")
        echo(f"    {url}")
    echo("")
    echo(f"Partner portal: {settings.base_url}/portal  ({DEMO_USER_EMAIL} / {DEMO_USER_PASSWORD})")
    echo(f"API docs:       {settings.base_url}/docs")
    echo(f"API key (shown once, made fresh each start): {api_key}")
    echo("")
