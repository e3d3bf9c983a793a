"""`leap-connect api-keys`: issue an organization's API key, printed once."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.cli.common import JsonOption, emit, run_in_transaction, split_list
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

app = typer.Typer(help="API keys.", no_args_is_help=True)


@app.command("create")
def create(
    org_name: str,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated, e.g. meters:read")],
    name: Annotated[str, typer.Option("--name")] = "API key",
    as_json: JsonOption = False,
) -> None:
    """Create an API key; it is printed once and only its HMAC is stored."""

    async def body(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        issued = await organizations.create_api_key(
            session,
            settings.secret_key.get_secret_value(),
            organization=organization,
            scopes=split_list(scopes),
            name=name,
        )
        emit(
            as_json,
            {
                "api_key_id": str(issued.api_key.id),
                "api_key": issued.token,
                "scopes": issued.api_key.scopes,
            },
            f"API key (shown once, store it now): {issued.token}",
        )

    run_in_transaction(body)
