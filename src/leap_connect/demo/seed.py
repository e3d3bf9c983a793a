"""Creates (once) the demo partner `demo-energy` with its flows, portal user and a fresh API key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import repository as connect_repository
from leap_connect.connect.flows import create_flow
from leap_connect.connect.links import build_link
from leap_connect.esign.documents import TermsText, read_terms_text
from leap_connect.esign.service import set_terms
from leap_connect.kit.crypto import Encryptor
from leap_connect.organizations import repository as organizations_repository
from leap_connect.organizations.service import (
    API_KEY_SCOPES,
    create_api_key,
    create_organization,
    create_user,
)
from leap_connect.settings import Settings

DEMO_ORG = "demo-energy"
DEMO_USER_EMAIL = "demo@demo-energy.example"
DEMO_USER_PASSWORD = "demo-energy-password"  # noqa: S105 - a published demo credential on localhost
THANK_YOU_PATH = "/demo/thank-you"
# The titles the demo partner gave its flows, as its staff read them in the portal.
DEMO_FLOW_TITLES = {
    "ca-utilities": "California homes and businesses",
    "ny-utilities": "New York businesses",
}
TERMS_DIR = Path(__file__).resolve().parent / "terms"
COMMERCIAL_TERMS = ("participation-agreement.md", "data-sharing-addendum.md")


@dataclass(frozen=True)
class DemoPartner:
    api_key: str
    links: dict[str, str]


async def seed_demo(session: AsyncSession, settings: Settings, encryptor: Encryptor) -> DemoPartner:
    organization = await organizations_repository.get_organization_by_name(session, DEMO_ORG)
    if organization is None:
        organization, _secret = await create_organization(
            session,
            encryptor,
            name=DEMO_ORG,
            display_name="Demo Energy",
            brand_color="#0b7a53",
        )
        await create_user(
            session, organization=organization, email=DEMO_USER_EMAIL, password=DEMO_USER_PASSWORD
        )
    thank_you_url = f"{settings.base_url}{THANK_YOU_PATH}"
    flows = {
        "ca-utilities": ("CAISO", ["pge", "sce", "sdge"], ["residential", "commercial"]),
        "ny-utilities": (
            "NYISO",
            ["cecony-utilityapi", "oru-utilityapi", "psegli-utilityapi"],
            ["commercial"],
        ),
    }
    for title, (region, utilities, customer_types) in flows.items():
        flow = await connect_repository.get_flow(session, organization.id, title)
        if flow is None:
            flow = await create_flow(
                session,
                organization=organization,
                url_friendly_title=title,
                region=region,
                utility_ids=utilities,
                customer_types=customer_types,
                thank_you_url=thank_you_url,
                title=DEMO_FLOW_TITLES[title],
                development=True,
            )
        else:
            flow.thank_you_url = thank_you_url  # the demo may run on another port than last time
        # Both flows ask business customers to sign; the same text again makes no new version.
        await set_terms(session, flow=flow, documents=commercial_terms())
    issued = await create_api_key(
        session,
        settings.secret_key.get_secret_value(),
        organization=organization,
        scopes=list(API_KEY_SCOPES),
        name="demo",
    )
    links = {
        "California, home (PG&E)": build_link(
            settings.base_url,
            DEMO_ORG,
            "ca-utilities",
            requested_utilities=["pge"],
            ref_id="demo-customer-1",
        ),
        "California, business (SCE and SDG&E)": build_link(
            settings.base_url,
            DEMO_ORG,
            "ca-utilities",
            requested_utilities=["sce", "sdge"],
            ref_id="demo-business-1",
        ),
        "New York, business (ConEd)": build_link(
            settings.base_url,
            DEMO_ORG,
            "ny-utilities",
            requested_utilities=["cecony-utilityapi"],
            ref_id="demo-ny-1",
        ),
    }
    return DemoPartner(api_key=issued.token, links=links)


def commercial_terms() -> list[TermsText]:
    """The sample participation agreement and data-sharing addendum shipped with the demo."""
    return [
        read_terms_text("commercial", name, (TERMS_DIR / name).read_bytes())
        for name in COMMERCIAL_TERMS
    ]
