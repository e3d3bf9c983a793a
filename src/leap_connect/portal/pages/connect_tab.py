"""The Connect tab: the organization's flows, the link builder, and links in bulk from a CSV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.csrf import checked_form
from leap_connect.kit.problems import ValidationFailed
from leap_connect.models import ConnectFlow
from leap_connect.portal import service
from leap_connect.portal.auth import PortalCaller
from leap_connect.portal.deps import PortalCallerDep
from leap_connect.portal.pages.layout import PREFIX, PageRouter, form_text, form_texts, render
from leap_connect.portal.service import LinkInvalid, UploadUnreadable

router = PageRouter()

BULK_UPLOAD_PATH = "/connect/links/bulk"
BULK_DOWNLOAD_PATH = "/connect/links/bulk/download"
# The one limit on these two requests (the app's default is 1 MiB): a CSV past the portal's own
# 2 MiB gets the bulk page saying so, and a request past 6 MiB the error page. The download posts
# back every Reference ID of the upload, form-encoded, which can be larger than the file was.
MAX_UPLOAD_REQUEST_BYTES = 3 * service.MAX_UPLOAD_BYTES
BODY_LIMITS = {
    f"{PREFIX}{BULK_UPLOAD_PATH}": MAX_UPLOAD_REQUEST_BYTES,
    f"{PREFIX}{BULK_DOWNLOAD_PATH}": MAX_UPLOAD_REQUEST_BYTES,
}
SHOWN_REJECTED_ROWS = 1000


@router.tab("/connect", "Connect")
async def connect_tab(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    flows = await service.connect_overview(
        session, caller.organization, base_url=runtime.settings.base_url
    )
    return render(request, caller, "portal/connect.html", {"flows": flows})


@router.get("/connect/links/new")
async def link_builder(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    flows = await service.list_flows(session, caller.organization)
    flow = await service.chosen_flow(
        session, caller.organization, flows, request.query_params.get("flow")
    )
    # A page may send here filled in (a meter's "renewal link"): the fields start with its values.
    values = _builder_values(
        flows,
        flow,
        utility_ids=request.query_params.getlist("utility_id"),
        ref_id=request.query_params.get("ref_id", ""),
    )
    return render(request, caller, "portal/link_builder.html", values)


@router.post("/connect/links")
async def create_link(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token)
    flow = await service.require_flow(session, caller.organization, form_text(form, "flow"))
    flows = await service.list_flows(session, caller.organization)
    utility_ids = form_texts(form, "utility_id")
    ref_id = form_text(form, "ref_id")
    values = _builder_values(flows, flow, utility_ids=utility_ids, ref_id=ref_id)
    try:
        built = service.build_partner_link(
            caller.organization,
            flow,
            base_url=runtime.settings.base_url,
            utility_ids=utility_ids,
            ref_id=ref_id,
        )
    except LinkInvalid as invalid:
        return render(
            request,
            caller,
            "portal/link_builder.html",
            {**values, "errors": invalid.errors},
            status=400,
        )
    return render(request, caller, "portal/link_builder.html", {**values, "result": built})


@router.get("/connect/links/bulk")
async def bulk_links_page(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    flows = await service.list_flows(session, caller.organization)
    flow = await service.chosen_flow(
        session, caller.organization, flows, request.query_params.get("flow")
    )
    return render(request, caller, "portal/bulk_links.html", _builder_values(flows, flow))


@router.post(BULK_UPLOAD_PATH)
async def upload_bulk_links(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token, max_files=1)
    flow = await service.require_flow(session, caller.organization, form_text(form, "flow"))
    flows = await service.list_flows(session, caller.organization)
    utility_ids = form_texts(form, "utility_id")
    values = _builder_values(flows, flow, utility_ids=utility_ids)
    upload = form.get("file")
    try:
        spec = service.read_link_spec(flow, utility_ids)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise UploadUnreadable("Choose a CSV file of Reference IDs to upload.")
        rows = service.read_uploaded_references(await upload.read(service.MAX_UPLOAD_BYTES + 1))
    except LinkInvalid as invalid:
        return _render_bulk(request, caller, {**values, "errors": invalid.errors}, 400)
    except UploadUnreadable as unreadable:
        errors = {"file": unreadable.message}
        return _render_bulk(request, caller, {**values, "errors": errors}, 400)
    result = service.bulk_links(spec, rows)
    return _render_bulk(
        request,
        caller,
        {
            **values,
            "result": result,
            "rows": len(rows),
            "shown_rejected": result.rejected[:SHOWN_REJECTED_ROWS],
            "ref_ids_json": service.encode_ref_ids(result.ref_ids),
            "filename": upload.filename if isinstance(upload, UploadFile) else "",
        },
        200,
    )


@router.post(BULK_DOWNLOAD_PATH)
async def download_bulk_links(
    request: Request, caller: PortalCallerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token, max_part_size=MAX_UPLOAD_REQUEST_BYTES)
    flow = await service.require_flow(session, caller.organization, form_text(form, "flow"))
    try:
        spec = service.read_link_spec(flow, form_texts(form, "utility_id"))
    except LinkInvalid as invalid:
        raise ValidationFailed(" ".join(invalid.errors.values())) from None
    ref_ids = service.decode_ref_ids(form_text(form, "ref_ids"))
    body = service.links_csv(caller.organization, spec, ref_ids, runtime.settings.base_url)
    filename = f"{caller.organization.name}-{flow.url_friendly_title}-links.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _render_bulk(
    request: Request, caller: PortalCaller, values: dict[str, Any], status: int
) -> HTMLResponse:
    return render(request, caller, "portal/bulk_links.html", values, status=status)


def _builder_values(
    flows: Sequence[ConnectFlow],
    flow: ConnectFlow | None,
    *,
    utility_ids: list[str] | None = None,
    ref_id: str = "",
) -> dict[str, Any]:
    return {
        "flows": [(item, service.flow_utilities(item)) for item in flows],
        "flow": flow,
        "values": {"utility_ids": [u.strip().lower() for u in utility_ids or []], "ref_id": ref_id},
        "errors": {},
        "result": None,
    }
