"""`leap-connect users`: create a portal user, with the password prompted on a terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.cli.common import JsonOption, emit, fail, run_in_transaction
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

app = typer.Typer(help="Portal users.", no_args_is_help=True)


@app.command("create")
def create(
    org_name: str,
    email: str,
    role: Annotated[str, typer.Option("--role", help="admin or member")] = "admin",
    password: Annotated[
        str | None,
        typer.Option(
            "--password", envvar="LEAP_CONNECT_NEW_USER_PASSWORD", help="Prompted if absent"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a portal user."""
    if password is None:
        if not sys.stdin.isatty():
            raise fail("give --password (or LEAP_CONNECT_NEW_USER_PASSWORD) when not on a terminal")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def body(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        user = await organizations.create_user(
            session, organization=organization, email=email, password=password or "", role=role
        )
        emit(
            as_json,
            {"user_id": str(user.id), "email": user.email, "role": user.role},
            f"created {user.role} {user.email}",
        )

    run_in_transaction(body)
