"""The journey's terms step: one page per document to review and e-sign, and the signer's PDF.

The pages are bound to the browser and protected against CSRF exactly like the session page:
the helpers are the session page's own.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leap_connect.connect import service as connect_service
from leap_connect.connect import terms
from leap_connect.connect.browser import (
    browser_of,
    checked_form,
    csrf_for,
    session_view_of,
)
from leap_connect.connect.progress import Step, journey_steps
from leap_connect.connect.terms import document_url, known_utility, terms_url
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.esign import service as esign
from leap_connect.esign.disclosure import esign_disclosure
from leap_connect.esign.documents import render_html
from leap_connect.esign.service import DocumentChanged, SignatureFormInvalid, TermsStep
from leap_connect.kit.problems import NotFound
from leap_connect.kit.templating import templates
from leap_connect.models import Agreement, Document, utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.registry import UTILITIES_BY_ID

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/connect/sessions/{connect_session_id}/terms")
async def terms_overview(
    request: Request,
    connect_session_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    utility_id: str | None = None,
) -> Response:
    """Every document to sign, what is signed, and the way on once all are."""
    browser = browser_of(request, runtime)
    view = await session_view_of(request, session, runtime, connect_session_id)
    step = await esign.load_terms_step(session, view.connect_session)
    if not step.documents:
        return RedirectResponse(f"/connect/sessions/{connect_session_id}", status_code=303)
    next_utility = UTILITIES_BY_ID.get(known_utility(utility_id) or "")
    return templates().TemplateResponse(
        request,
        "terms_overview.html",
        {
            "view": view,
            "organization": view.organization,
            "brand_color": view.organization.brand_color,
            "step": step,
            "next_utility": next_utility,
            "rows": [
                {
                    "document": document,
                    "agreement": step.signed[document.slug][0]
                    if document.slug in step.signed
                    else None,
                    "url": document_url(
                        connect_session_id, document.slug, next_utility_id=known_utility(utility_id)
                    ),
                    "pdf_url": f"/connect/sessions/{connect_session_id}/terms/{document.slug}/pdf",
                }
                for document in step.documents
            ],
            "csrf_token": csrf_for(runtime, browser),
            "steps": _terms_steps(view, signed=not step.unsigned),
        },
        headers=NO_STORE,
    )


@router.get("/connect/sessions/{connect_session_id}/terms/{slug}")
async def document_page(
    request: Request,
    connect_session_id: uuid.UUID,
    slug: str,
    session: SessionDep,
    runtime: RuntimeDep,
    utility_id: str | None = None,
) -> Response:
    browser = browser_of(request, runtime)
    view = await session_view_of(request, session, runtime, connect_session_id)
    step = await esign.load_terms_step(session, view.connect_session)
    return _render_document(
        request, runtime, view, step, slug, browser, next_utility_id=known_utility(utility_id)
    )


@router.post("/connect/sessions/{connect_session_id}/terms/{slug}")
async def sign(
    request: Request,
    connect_session_id: uuid.UUID,
    slug: str,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    consented_at = utc_now()  # the consent box is ticked in this very submission
    browser = browser_of(request, runtime)
    form = await checked_form(request, runtime, browser)
    view = await session_view_of(request, session, runtime, connect_session_id)
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    next_utility_id = known_utility(values.get("next_utility_id"))
    connect_session = view.connect_session
    try:
        details = esign.read_signature_form(
            values, commercial=connect_session.customer_type == "commercial"
        )
        await terms.sign(
            session,
            connect_session_id=connect_session.id,
            slug=slug,
            details=details,
            shown_sha256=values.get("document_sha256") or None,
            consented_at=consented_at,
            ip_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            settings=runtime.settings,
            encryptor=runtime.encryptor,
        )
    except SignatureFormInvalid as invalid:
        step = await esign.load_terms_step(session, connect_session)
        return _render_document(
            request,
            runtime,
            view,
            step,
            slug,
            browser,
            next_utility_id=next_utility_id,
            values=values,
            errors=invalid.errors,
            status=400,
        )
    except DocumentChanged as changed:
        step = await esign.load_terms_step(session, connect_session)
        return _render_document(
            request,
            runtime,
            view,
            step,
            slug,
            browser,
            next_utility_id=next_utility_id,
            values={key: values.get(key, "") for key in ("signer_title", "company_name")},
            message=changed.detail,
            status=changed.status_code,
        )
    step = await esign.load_terms_step(session, connect_session)
    url = terms.next_page_after_signing(step, next_utility_id=next_utility_id)
    return RedirectResponse(url, status_code=303)


@router.get("/connect/sessions/{connect_session_id}/terms/{slug}/pdf")
async def signed_pdf(
    request: Request,
    connect_session_id: uuid.UUID,
    slug: str,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """The signer's own copy, to keep (the ESIGN consent promises it)."""
    view = await session_view_of(request, session, runtime, connect_session_id)
    agreement, document = await esign.signed_pdf_for_session(session, view.connect_session, slug)
    assert agreement.pdf is not None
    return Response(
        agreement.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document.slug}-signed.pdf"',
            **NO_STORE,
        },
    )


def _render_document(
    request: Request,
    runtime: Runtime,
    view: connect_service.SessionView,
    step: TermsStep,
    slug: str,
    browser: str | None,
    *,
    next_utility_id: str | None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    signed: tuple[Agreement, Document] | None = step.signed.get(slug)
    document = signed[1] if signed else next((d for d in step.documents if d.slug == slug), None)
    if document is None:
        raise NotFound("This sign-up has no document at this address.")
    connect_session = view.connect_session
    remaining = [d for d in step.unsigned if d.slug != document.slug]
    continue_url = (
        document_url(connect_session.id, remaining[0].slug, next_utility_id=next_utility_id)
        if remaining
        else terms_url(connect_session.id, next_utility_id=next_utility_id)
    )
    # The signature starts from the details the customer already gave.
    defaults = {
        "signer_name": connect_session.customer_name or "",
        "company_name": connect_session.company_name or "",
    }
    return templates().TemplateResponse(
        request,
        "terms_document.html",
        {
            "view": view,
            "organization": view.organization,
            "brand_color": view.organization.brand_color,
            "step": step,
            "document": document,
            "document_html": render_html(document.body_markdown),
            "agreement": signed[0] if signed else None,
            "position": step.position(document.slug),
            "remaining": remaining,
            "commercial": connect_session.customer_type == "commercial",
            "finished": connect_session.status in terms.FINISHED_STATUSES,
            "disclosure": esign_disclosure(view.organization.display_name),
            "form_action": f"/connect/sessions/{connect_session.id}/terms/{document.slug}",
            "pdf_url": f"/connect/sessions/{connect_session.id}/terms/{document.slug}/pdf",
            "continue_url": continue_url,
            "next_utility_id": next_utility_id,
            "csrf_token": csrf_for(runtime, browser),
            "values": {**defaults, **(values or {})},
            "errors": errors or {},
            "message": message,
            "steps": _terms_steps(view, signed=False),
        },
        status_code=status,
        headers=NO_STORE,
    )


def _terms_steps(view: connect_service.SessionView, *, signed: bool) -> tuple[Step, ...]:
    """The step indicator at Terms; once all are signed after the utility, at Done."""
    first = view.flow.terms_before_authorization
    return journey_steps(
        has_terms=True, terms_first=first, current="done" if signed and not first else "terms"
    )
