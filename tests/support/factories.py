"""Arranging test data through the same services the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.connect.flows import create_flow
from leap_connect.kit.crypto import Encryptor
from leap_connect.models import ConnectFlow, Organization
from leap_connect.organizations.service import create_organization
from leap_connect.runtime import Runtime

THANK_YOU_URL = "https://partner.example/thanks"

# What a residential customer types on the landing page (the contract's field names).
RESIDENTIAL_DETAILS = {
    "customer_type": "residential",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
}


@dataclass
class Partner:
    organization: Organization
    flow: ConnectFlow
    redirect_signing_secret: str


async def create_partner(
    runtime: Runtime | tuple[async_sessionmaker[AsyncSession], Encryptor],
    *,
    name: str = "acme",
    flow_title: str = "ca-homes",
    region: str = "CAISO",
    utility_ids: tuple[str, ...] = ("pge", "sce", "sdge"),
    customer_types: tuple[str, ...] = ("residential", "commercial"),
    thank_you_url: str = THANK_YOU_URL,
) -> Partner:
    sessionmaker, encryptor = (
        (runtime.sessionmaker, runtime.encryptor) if isinstance(runtime, Runtime) else runtime
    )
    async with sessionmaker() as session, session.begin():
        organization, secret = await create_organization(
            session, encryptor, name=name, display_name=f"{name.title()} Energy"
        )
        flow = await create_flow(
            session,
            organization=organization,
            url_friendly_title=flow_title,
            region=region,
            utility_ids=utility_ids,
            customer_types=customer_types,
            thank_you_url=thank_you_url,
            development=True,
        )
    return Partner(organization, flow, secret)
