"""The journey's terms step: where its pages are, when it comes, and what a signature changes.

The documents, their versions, the signature and its PDF belong to `esign`; the connect session
they are signed in, its status and its events belong to the journey, here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import events, repository
from leap_connect.esign import service as esign
from leap_connect.esign.service import SignatureDetails, TermsStep
from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.problems import LeapConnectError, NotFound
from leap_connect.meters import repository as meters_repository
from leap_connect.models import Agreement, ConnectFlow, ConnectSession, Document, Meter, utc_now
from leap_connect.settings import Settings
from leap_connect.utilities.registry import UTILITIES_BY_ID

FINISHED_STATUSES = ("COMPLETED", "CLOSED")


class TermsUnsigned(LeapConnectError):
    """Finishing was refused: the session still has documents to sign."""

    title = "Please sign the additional terms first"
    type_slug = "terms-unsigned"

    def __init__(self, connect_session_id: uuid.UUID, unsigned: Sequence[Document]) -> None:
        titles = ", ".join(document.title for document in unsigned)
        super().__init__(f"Please sign every document before you finish: {titles}.")
        self.first_document_url = document_url(connect_session_id, unsigned[0].slug)


class SigningRefused(LeapConnectError):
    title = "We could not record your signature"
    type_slug = "signing-refused"


# --- where the pages are --------------------------------------------------------------------------


def terms_url(connect_session_id: uuid.UUID, *, next_utility_id: str | None = None) -> str:
    query = f"?{urlencode({'utility_id': next_utility_id})}" if next_utility_id else ""
    return f"/connect/sessions/{connect_session_id}/terms{query}"


def document_url(
    connect_session_id: uuid.UUID, slug: str, *, next_utility_id: str | None = None
) -> str:
    query = f"?{urlencode({'utility_id': next_utility_id})}" if next_utility_id else ""
    return f"/connect/sessions/{connect_session_id}/terms/{slug}{query}"


def known_utility(utility_id: str | None) -> str | None:
    """A utility ID carried through the terms pages, if it is one (it only fills a form field)."""
    return utility_id if utility_id in UTILITIES_BY_ID else None


# --- when the step comes --------------------------------------------------------------------------


async def require_signed_terms(session: AsyncSession, connect_session: ConnectSession) -> None:
    """Refuse to finish while a required document is unsigned (a finished session stays so)."""
    if connect_session.status == "COMPLETED":
        return
    step = await esign.load_terms_step(session, connect_session)
    if step.unsigned:
        raise TermsUnsigned(connect_session.id, step.unsigned)


async def terms_before_authorization_url(
    session: AsyncSession, connect_session: ConnectSession, flow: ConnectFlow, utility_id: str
) -> str | None:
    """Where to send the customer first when the flow puts terms before the utility."""
    if not flow.terms_before_authorization:
        return None
    await session.flush()  # a session opened by this request gets its ID
    step = await esign.load_terms_step(session, connect_session)
    if not step.unsigned:
        return None
    return document_url(
        connect_session.id, step.unsigned[0].slug, next_utility_id=known_utility(utility_id)
    )


def next_page_after_signing(step: TermsStep, *, next_utility_id: str | None) -> str:
    """The next unsigned document, or the overview once every one is signed."""
    connect_session_id = step.connect_session.id
    if step.unsigned:
        return document_url(
            connect_session_id, step.unsigned[0].slug, next_utility_id=next_utility_id
        )
    return terms_url(connect_session_id, next_utility_id=next_utility_id)


# --- signing --------------------------------------------------------------------------------------


async def sign(
    session: AsyncSession,
    *,
    connect_session_id: uuid.UUID,
    slug: str,
    details: SignatureDetails,
    shown_sha256: str | None,
    consented_at: datetime,
    ip_address: str | None,
    user_agent: str | None,
    settings: Settings,
    encryptor: Encryptor,
) -> Agreement:
    """Sign one of the session's documents; a second click on Sign returns the first agreement."""
    found = await repository.get_connect_session_with_flow(session, connect_session_id, lock=True)
    if found is None:
        raise NotFound("We could not find this sign-up. Please open the link you were given again.")
    connect_session, flow, organization = found
    if connect_session.status in FINISHED_STATUSES:
        raise SigningRefused(
            "This sign-up is finished. Open the link you were given to start again."
        )
    step = await esign.load_terms_step(session, connect_session)
    if slug in step.signed:
        return step.signed[slug][0]
    agreement = await esign.sign_document(
        session,
        step=step,
        slug=slug,
        flow=flow,
        organization=organization,
        meters=await _meters_connected(session, connect_session),
        details=details,
        shown_sha256=shown_sha256,
        consented_at=consented_at,
        ip_address=ip_address,
        user_agent=user_agent,
        settings=settings,
        encryptor=encryptor,
    )
    connect_session.status = "UPDATED"
    connect_session.last_interaction_at = utc_now()
    await events.session_updated(session, connect_session)
    return agreement


async def _meters_connected(session: AsyncSession, connect_session: ConnectSession) -> list[Meter]:
    authorizations = await repository.list_authorizations(session, connect_session.id)
    completed = [a.id for a in authorizations if a.status == "COMPLETED"]
    return await meters_repository.list_meters_for_authorizations(session, completed)
