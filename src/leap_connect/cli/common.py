"""What every command group shares: the `error:` line, `--json`, settings, one transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.kit.problems import LeapConnectError
from leap_connect.settings import Settings

T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def fail(message: str) -> typer.Exit:
    """The one way a command refuses: `error: <message>` on stderr, exit code 2 (raise it)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        raise fail(str(first.get("ctx", {}).get("error") or first["msg"])) from None


def run_in_transaction(body: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    """Run a command's body in one committed transaction; expected errors become one line."""
    settings = load_settings()

    async def run() -> T:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await body(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except LeapConnectError as error:
        raise fail(error.detail) from None


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(data, default=str) if as_json else text)
