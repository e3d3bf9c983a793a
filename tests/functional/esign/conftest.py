"""A partner whose business customers sign two documents, and a browser that walks the journey."""

from __future__ import annotations

import io
from collections.abc import Sequence
from urllib.parse import urlsplit

import pypdf
import pytest
from sqlalchemy import select

from leap_connect.esign.documents import TermsText, read_terms_text
from leap_connect.esign.service import set_terms
from leap_connect.esign.signing import load_identity
from leap_connect.models import Agreement, ConnectFlow
from leap_connect.organizations.service import create_api_key
from leap_connect.runtime import Runtime
from tests.support.browser import Browser, Page
from tests.support.factories import Partner, create_partner

PARTICIPATION = """# Participation agreement

You take part in **Acme Energy**'s demand response program.

1. You reduce your electricity use during events.
2. We pay you for the reduction.
"""

ADDENDUM = """# Data-sharing addendum

We read your meters' interval data <script>alert("addendum")</script> to run the program.

[Our privacy notice](https://acme.example/privacy) and [a trick](javascript:alert(1)).
"""

SIGNER = {
    "consent": "yes",
    "signer_name": "Grace Hopper",
    "signer_title": "Operations director",
    "company_name": "Hopper Foods",
}

BUSINESS = {
    "customer_type": "commercial",
    "customer_name": "Grace Hopper",
    "customer_email": "grace@example.com",
    "company_name": "Hopper Foods",
}


def commercial_terms(participation: str = PARTICIPATION) -> list[TermsText]:
    return [
        read_terms_text("commercial", "participation-agreement.md", participation),
        read_terms_text("commercial", "data-sharing-addendum.md", ADDENDUM),
    ]


async def put_terms(
    runtime: Runtime,
    flow: ConnectFlow,
    documents: Sequence[TermsText],
    *,
    before_authorization: bool | None = None,
) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        merged = await session.merge(flow)
        await set_terms(
            session, flow=merged, documents=documents, before_authorization=before_authorization
        )


@pytest.fixture
async def partner(runtime: Runtime) -> Partner:
    """`acme`, flow `ca-homes` (PG&E, SCE, SDG&E; homes and businesses); businesses sign two."""
    partner = await create_partner(runtime)
    await put_terms(runtime, partner.flow, commercial_terms())
    return partner


async def issue_api_key(runtime: Runtime, partner: Partner, scopes: Sequence[str]) -> str:
    async with runtime.sessionmaker() as session, session.begin():
        issued = await create_api_key(
            session, runtime.secret_key, organization=partner.organization, scopes=list(scopes)
        )
    return issued.token


async def connect_utility(
    browser: Browser,
    page: Page,
    utility_id: str,
    username: str,
    fields: dict[str, str] | None = None,
) -> Page:
    at_utility = await browser.submit(page, button=("utility_id", utility_id), fields=fields)
    assert urlsplit(at_utility.url).path == f"/sandbox/{utility_id}/oauth/authorize", (
        at_utility.text
    )
    return await browser.submit(
        at_utility,
        button=("decision", "approve"),
        fields={"username": username, "password": "sandbox"},
    )


async def business_connects_sce(browser: Browser, ref_id: str = "biz-9") -> Page:
    """A business customer's session page, with SCE (three meters) connected."""
    landing = await browser.open(f"/acme/ca-homes?requestedUtilities=sce&refId={ref_id}")
    session_page = await connect_utility(browser, landing, "sce", "commercial", BUSINESS)
    assert "Connected · 3 meters" in session_page.text, session_page.text
    return session_page


async def sign(browser: Browser, page: Page, fields: dict[str, str] | None = None) -> Page:
    return await browser.submit(page, button=("action", "sign"), fields=SIGNER | (fields or {}))


async def agreements(runtime: Runtime) -> list[Agreement]:
    async with runtime.sessionmaker() as session:
        result = await session.execute(select(Agreement).order_by(Agreement.signed_at))
        return list(result.scalars())


async def business_signs_both(browser: Browser, ref_id: str = "biz-9") -> Page:
    """Through SCE and both documents, to the page that offers Finish."""
    session_page = await business_connects_sce(browser, ref_id)
    first = await browser.submit(session_page, button=("action", "continue"))
    signed = await sign(browser, await sign(browser, first))
    assert "Documents signed" in signed.text, signed.text
    return signed


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


async def instance_certificate(runtime: Runtime) -> bytes:
    async with runtime.sessionmaker() as session:
        identity = await load_identity(session, runtime.settings, runtime.encryptor)
    return identity.certificate_pem
