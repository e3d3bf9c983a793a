"""Additional terms: which documents a connect session must sign, signing one with its PDF, a
flow's documents and their versions, and agreements as partners see them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.esign import repository
from leap_connect.esign.disclosure import esign_disclosure
from leap_connect.esign.documents import DocumentProblem, TermsText
from leap_connect.esign.schemas import MeterAgreementOut, agreement_out
from leap_connect.kit.crypto import Encryptor, sha256_hex
from leap_connect.kit.problems import Conflict, NotFound, ValidationFailed
from leap_connect.kit.text import text_problem
from leap_connect.meters import repository as meters_repository
from leap_connect.models import (
    Agreement,
    ConnectFlow,
    ConnectSession,
    Document,
    Meter,
    Organization,
    utc_now,
)
from leap_connect.settings import Settings
from leap_connect.utilities.registry import UTILITIES_BY_ID
from leap_connect.webhooks.events import record_event

# PDF_TOOLS_NOTE: fpdf2 and pyHanko take about a second to import, so pdf.py and signing.py are
# imported where a PDF is made: the CLI, and the journey asking whether terms are signed, start
# fast.
if TYPE_CHECKING:
    from leap_connect.esign import pdf, signing

MAX_SIGNER_TEXT = 200


class DocumentChanged(Conflict):
    title = "This document has changed"
    type_slug = "document-changed"


# --- the session's terms step ---------------------------------------------------------------------


@dataclass(frozen=True)
class TermsStep:
    """The documents a session must sign now, in order, and what it has signed (by slug)."""

    connect_session: ConnectSession
    documents: tuple[Document, ...]
    signed: Mapping[str, tuple[Agreement, Document]] = field(default_factory=dict)

    @property
    def unsigned(self) -> tuple[Document, ...]:
        return tuple(document for document in self.documents if document.slug not in self.signed)

    def position(self, slug: str) -> int:
        slugs = [document.slug for document in self.documents]
        return slugs.index(slug) + 1 if slug in slugs else 0


async def load_terms_step(session: AsyncSession, connect_session: ConnectSession) -> TermsStep:
    documents = await repository.list_current_documents(
        session, connect_session.flow_id, connect_session.customer_type
    )
    agreements = await repository.list_session_agreements(session, connect_session.id)
    signed = {
        document.slug: (agreement, document)
        for agreement, document in agreements
        if document.customer_type == connect_session.customer_type
    }
    return TermsStep(connect_session, tuple(documents), signed)


async def customer_types_with_terms(session: AsyncSession, flow_id: uuid.UUID) -> tuple[str, ...]:
    return tuple(await repository.customer_types_with_terms(session, flow_id))


# --- the signature form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureDetails:
    signer_name: str
    signer_title: str | None
    company_name: str | None


class SignatureFormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _text_problem(value: str, what: str) -> str | None:
    if len(value) > MAX_SIGNER_TEXT:
        return f"{what} can be at most {MAX_SIGNER_TEXT} characters."
    return text_problem(value, what, name=True)


def read_signature_form(form: Mapping[str, str], *, commercial: bool) -> SignatureDetails:
    """The typed signature, or every problem with it at once."""
    errors: dict[str, str] = {}
    if form.get("consent") != "yes":
        errors["consent"] = (
            "Tick the box to agree to use electronic records and signatures. "
            "Without it you cannot sign here."
        )
    values = {key: " ".join(form.get(key, "").split()) for key in _SIGNATURE_FIELDS}
    required = {"signer_name": "Type your full name to sign."}
    if commercial:
        required["signer_title"] = "Enter your title."
        required["company_name"] = "Enter your company's name."
    for key, what in _SIGNATURE_FIELDS.items():
        if key not in required:
            continue
        if not values[key]:
            errors[key] = required[key]
        elif problem := _text_problem(values[key], what):
            errors[key] = problem
    if errors:
        raise SignatureFormInvalid(errors)
    return SignatureDetails(
        signer_name=values["signer_name"],
        signer_title=values["signer_title"] if commercial else None,
        company_name=values["company_name"] if commercial else None,
    )


_SIGNATURE_FIELDS = {
    "signer_name": "Your name",
    "signer_title": "Your title",
    "company_name": "The company name",
}


# --- signing --------------------------------------------------------------------------------------


async def sign_document(
    session: AsyncSession,
    *,
    step: TermsStep,
    slug: str,
    flow: ConnectFlow,
    organization: Organization,
    meters: Sequence[Meter],
    details: SignatureDetails,
    shown_sha256: str | None,
    consented_at: datetime,
    ip_address: str | None,
    user_agent: str | None,
    settings: Settings,
    encryptor: Encryptor,
) -> Agreement:
    """Record the agreement to one document of `step` with its signed PDF, and its event."""
    from leap_connect.esign import pdf, signing  # see PDF_TOOLS_NOTE

    connect_session = step.connect_session
    document = next((d for d in step.documents if d.slug == slug), None)
    if document is None:
        raise NotFound("This sign-up has no document at this address.")
    if shown_sha256 and shown_sha256 != document.sha256:
        raise DocumentChanged(
            "This document was updated while you were reading it. "
            "Please read the new version below, then sign it."
        )
    identity = await signing.load_identity(session, settings, encryptor)
    agreement = Agreement(
        id=uuid.uuid4(),
        organization_id=connect_session.organization_id,
        connect_session_id=connect_session.id,
        document_id=document.id,
        document_sha256=document.sha256,
        partner_reference=connect_session.partner_reference,
        signer_name=details.signer_name,
        signer_email=connect_session.customer_email,
        signer_title=details.signer_title,
        company_name=details.company_name,
        meter_ids=[str(meter.id) for meter in meters],
        consented_at=consented_at,
        signed_at=utc_now(),
        ip_address=(ip_address or "")[:64] or None,
        user_agent=(user_agent or "")[:1000] or None,
    )
    facts = _facts(agreement, document, organization, flow, connect_session, meters, identity)
    unsigned_pdf = await asyncio.to_thread(pdf.render_agreement_pdf, facts)
    agreement.pdf = await signing.sign_pdf(
        unsigned_pdf,
        identity,
        reason=f"{document.title}, signed electronically by {details.signer_name}",
    )
    agreement.pdf_sha256 = sha256_hex(agreement.pdf)
    session.add(agreement)
    await session.flush()
    repository.add_agreement_meters(session, agreement.id, [meter.id for meter in meters])
    await record_event(
        session,
        organization_id=agreement.organization_id,
        event_type="agreement.signed",
        payload={"agreement": agreement_out(agreement, document).model_dump(mode="json")},
    )
    return agreement


def _facts(
    agreement: Agreement,
    document: Document,
    organization: Organization,
    flow: ConnectFlow,
    connect_session: ConnectSession,
    meters: Sequence[Meter],
    identity: signing.SigningIdentity,
) -> pdf.AgreementFacts:
    from leap_connect.esign import pdf  # see PDF_TOOLS_NOTE

    return pdf.AgreementFacts(
        agreement_id=str(agreement.id),
        partner_name=organization.display_name,
        flow_title=f"{flow.title} ({flow.url_friendly_title})",
        customer_type=connect_session.customer_type,
        document_title=document.title,
        document_slug=document.slug,
        document_version=document.version,
        document_sha256=document.sha256,
        document_markdown=document.body_markdown,
        signer_name=agreement.signer_name,
        signer_email=agreement.signer_email,
        signer_title=agreement.signer_title,
        company_name=agreement.company_name,
        connect_session_id=str(connect_session.id),
        partner_reference=connect_session.partner_reference,
        meters=tuple(pdf.MeterFact(str(meter.id), _describe(meter)) for meter in meters),
        consented_at=agreement.consented_at,
        signed_at=agreement.signed_at,
        ip_address=agreement.ip_address,
        user_agent=agreement.user_agent,
        disclosure=esign_disclosure(organization.display_name),
        certificate_subject=identity.subject,
    )


def _describe(meter: Meter) -> str:
    utility = UTILITIES_BY_ID[meter.utility_id].short_name
    number = meter.utility_meter_serial_number or meter.service_point_id or meter.utility_meter_id
    address = ", ".join(part for part in (meter.street_1, meter.city) if part)
    return f"{utility} meter {number}" + (f", {address}" if address else "")


async def signed_pdf_for_session(
    session: AsyncSession, connect_session: ConnectSession, slug: str
) -> tuple[Agreement, Document]:
    step = await load_terms_step(session, connect_session)
    signed = step.signed.get(slug)
    if signed is None or signed[0].pdf is None:
        raise NotFound("You have not signed this document yet.")
    return signed


# --- a flow's documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentChange:
    customer_type: str
    slug: str
    title: str
    version: int
    sha256: str
    change: Literal["added", "new version", "unchanged", "removed"]


async def set_terms(
    session: AsyncSession,
    *,
    flow: ConnectFlow,
    documents: Sequence[TermsText],
    clear: Sequence[str] = (),
    before_authorization: bool | None = None,
) -> list[DocumentChange]:
    """Make `documents` the flow's terms for their customer types (and none for `clear`).

    A stored version is never changed: a changed text becomes the document's next version, and
    agreements keep pointing at the version they signed. The same text again changes nothing.
    """
    scope = list(dict.fromkeys([text.customer_type for text in documents] + list(clear)))
    for customer_type in scope:
        if customer_type not in flow.customer_types:
            raise ValidationFailed(
                f'The flow "{flow.url_friendly_title}" has no {customer_type} customers '
                f"(it has {', '.join(flow.customer_types)})."
            )
    from leap_connect.esign import pdf  # see PDF_TOOLS_NOTE

    seen: set[tuple[str, str]] = set()
    for text in documents:
        if (text.customer_type, text.slug) in seen:
            raise ValidationFailed(
                f'Two {text.customer_type} documents are named "{text.slug}"; rename one file.'
            )
        seen.add((text.customer_type, text.slug))
        try:
            await asyncio.to_thread(pdf.check_document_layout, text.title, text.body_markdown)
        except DocumentProblem as problem:
            raise ValidationFailed(str(problem)) from None
    versions = await repository.list_all_versions(session, flow.id)
    latest: dict[tuple[str, str], Document] = {}
    for version in versions:  # ordered by version
        latest[(version.customer_type, version.slug)] = version
    changes: list[DocumentChange] = []
    for customer_type in scope:
        given = [text for text in documents if text.customer_type == customer_type]
        for position, text in enumerate(given):
            changes.append(_set_document(session, flow, versions, latest, text, position))
        kept = {text.slug for text in given}
        for version in versions:
            current = version.customer_type == customer_type and version.is_current
            if current and version.slug not in kept:
                version.is_current = False
                changes.append(_change(version, "removed"))
    if before_authorization is not None:
        flow.terms_before_authorization = before_authorization
    await session.flush()
    return changes


def _set_document(
    session: AsyncSession,
    flow: ConnectFlow,
    versions: Sequence[Document],
    latest: Mapping[tuple[str, str], Document],
    text: TermsText,
    position: int,
) -> DocumentChange:
    previous = latest.get((text.customer_type, text.slug))
    if previous is not None and previous.sha256 == text.sha256:
        change: Literal["added", "unchanged"] = "unchanged" if previous.is_current else "added"
        previous.is_current = True
        previous.position = position
        return _change(previous, change)
    for version in versions:
        if (version.customer_type, version.slug) == (text.customer_type, text.slug):
            version.is_current = False
    document = Document(
        flow_id=flow.id,
        customer_type=text.customer_type,
        slug=text.slug,
        title=text.title,
        version=previous.version + 1 if previous else 1,
        body_markdown=text.body_markdown,
        sha256=text.sha256,
        is_current=True,
        position=position,
    )
    session.add(document)
    return _change(document, "new version" if previous else "added")


def _change(
    document: Document, change: Literal["added", "new version", "unchanged", "removed"]
) -> DocumentChange:
    return DocumentChange(
        customer_type=document.customer_type,
        slug=document.slug,
        title=document.title,
        version=document.version,
        sha256=document.sha256,
        change=change,
    )


# --- agreements for the partner API ---------------------------------------------------------------


async def get_agreement(
    session: AsyncSession, organization_id: uuid.UUID, agreement_id: uuid.UUID
) -> tuple[Agreement, Document]:
    found = await repository.get_agreement(session, organization_id, agreement_id)
    if found is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    return found


async def list_meter_agreements(
    session: AsyncSession, organization_id: uuid.UUID, meter_id: uuid.UUID
) -> list[MeterAgreementOut]:
    """The agreements covering a meter: those of its authorization's session, signed before or
    after the utility reported the meter, each saying whether the meter was there at signing."""
    if await meters_repository.get_meter(session, organization_id, meter_id) is None:
        raise NotFound(f"There is no meter {meter_id}.")
    rows = await repository.list_meter_agreements(session, organization_id, meter_id)
    return [
        MeterAgreementOut(
            **agreement_out(agreement, document).model_dump(),
            meter_present_at_signing=str(meter_id) in agreement.meter_ids,
        )
        for agreement, document in rows
    ]
