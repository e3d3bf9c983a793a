"""The partner API's signed agreements (/v2/agreements, /v2/meters/{meter_id}/agreements)."""

from __future__ import annotations

import base64
import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from leap_connect.api.deps import MetersRead
from leap_connect.api.openapi import AUTHENTICATED, problem_responses
from leap_connect.deps import SessionDep
from leap_connect.esign import service
from leap_connect.esign.schemas import AgreementList, AgreementOut, agreement_out
from leap_connect.kit.problems import NotFound

router = APIRouter(tags=["Agreements"])


@router.get(
    "/v2/meters/{meter_id}/agreements",
    operation_id="listMeterAgreements",
    summary="List a meter's agreements",
    response_model=AgreementList,
    responses=problem_responses(*AUTHENTICATED, 404, 422),
)
async def list_meter_agreements(
    meter_id: uuid.UUID, caller: MetersRead, session: SessionDep
) -> AgreementList:
    """Agreements covering this meter, newest first: every agreement signed in the Connect session
    that authorized it, including one signed before the utility reported the meter (New York
    utilities report meters minutes after the authorization). `meter_present_at_signing` says
    whether the meter was already connected when the customer signed."""
    agreements = await service.list_meter_agreements(session, caller.organization_id, meter_id)
    return AgreementList(agreements=agreements)


@router.get(
    "/v2/agreements/{agreement_id}",
    operation_id="getAgreement",
    summary="Get an agreement",
    response_model=AgreementOut,
    responses=problem_responses(*AUTHENTICATED, 404, 422),
)
async def get_agreement(
    agreement_id: uuid.UUID, caller: MetersRead, session: SessionDep
) -> AgreementOut:
    """The agreement record and the exact document version signed (its text hashes to
    `document.sha256`)."""
    agreement, document = await service.get_agreement(session, caller.organization_id, agreement_id)
    return agreement_out(agreement, document)


@router.get(
    "/v2/agreements/{agreement_id}/pdf",
    operation_id="getAgreementPdf",
    summary="Download an agreement's signed PDF",
    response_class=Response,
    responses={
        200: {
            "description": "The signed PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(*AUTHENTICATED, 404, 422),
    },
)
async def get_agreement_pdf(
    agreement_id: uuid.UUID, caller: MetersRead, session: SessionDep
) -> Response:
    """The document, signature block and audit trail, digitally signed (PAdES): any PDF reader
    shows the signature and whether the file changed. Its SHA-256 is the agreement's
    `pdf_sha256`."""
    agreement, document = await service.get_agreement(session, caller.organization_id, agreement_id)
    if agreement.pdf is None or agreement.pdf_sha256 is None:
        raise NotFound(f"Agreement {agreement_id} has no PDF.")
    digest = base64.b64encode(bytes.fromhex(agreement.pdf_sha256)).decode()
    return Response(
        agreement.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document.slug}-{agreement.id}.pdf"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "Cache-Control": "private, no-store",
        },
    )
