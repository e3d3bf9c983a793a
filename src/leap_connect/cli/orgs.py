"""`leap-connect orgs`: create an organization (a partner) and print its redirect signing secret;
change what customers see of it."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.cli.common import JsonOption, emit, run_in_transaction
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

app = typer.Typer(help="Organizations (partners).", no_args_is_help=True)

SUPPORT_HELP = "Where customers get help: an e-mail address or an https:// URL"


@app.command("create")
def create(
    org_name: Annotated[str, typer.Argument(help="URL name, e.g. acme")],
    display_name: Annotated[str, typer.Option("--display-name", help="Name customers see")],
    logo_url: Annotated[str | None, typer.Option("--logo-url")] = None,
    brand_color: Annotated[str | None, typer.Option("--brand-color", help="e.g. #1f6feb")] = None,
    support_contact: Annotated[
        str | None, typer.Option("--support-contact", help=SUPPORT_HELP)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an organization (a partner)."""

    async def body(session: AsyncSession, settings: Settings) -> None:
        encryptor = Encryptor(settings.encryption_keys.get_secret_value())
        organization, secret = await organizations.create_organization(
            session,
            encryptor,
            name=org_name,
            display_name=display_name,
            logo_url=logo_url,
            brand_color=brand_color,
            support_contact=support_contact,
        )
        warnings = organizations.brand_color_warnings(brand_color) if brand_color else []
        emit(
            as_json,
            {
                "organization_id": str(organization.id),
                "name": organization.name,
                "display_name": organization.display_name,
                "redirect_signing_secret": secret,
                "warnings": warnings,
            },
            f"created organization {organization.name}\n"
            f"redirect signing secret (verify thank-you redirects with it): {secret}"
            + "".join(f"\nwarning: {warning}" for warning in warnings),
        )

    run_in_transaction(body)


@app.command("update")
def update(
    org_name: Annotated[str, typer.Argument(help="URL name, e.g. acme")],
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name customers see")
    ] = None,
    logo_url: Annotated[str | None, typer.Option("--logo-url", help='"" removes it')] = None,
    brand_color: Annotated[str | None, typer.Option("--brand-color", help="e.g. #1f6feb")] = None,
    support_contact: Annotated[
        str | None, typer.Option("--support-contact", help=SUPPORT_HELP + '; "" removes it')
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change an organization's name, logo, colour or support contact as customers see them."""

    async def body(session: AsyncSession, _settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        organizations.update_branding(
            organization,
            display_name=display_name,
            logo_url=logo_url,
            brand_color=brand_color,
            support_contact=support_contact,
        )
        warnings = organizations.brand_color_warnings(brand_color) if brand_color else []
        emit(
            as_json,
            {
                "name": organization.name,
                "display_name": organization.display_name,
                "logo_url": organization.logo_url,
                "brand_color": organization.brand_color,
                "support_contact": organization.support_contact,
                "warnings": warnings,
            },
            f"updated organization {organization.name}"
            + "".join(f"\nwarning: {warning}" for warning in warnings),
        )

    run_in_transaction(body)
