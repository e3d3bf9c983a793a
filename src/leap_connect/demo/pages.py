"""The demo partner's thank-you page: it checks the redirect's signature as a partner should."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leap_connect.demo import service
from leap_connect.demo.seed import THANK_YOU_PATH
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.templating import templates

router = APIRouter(include_in_schema=False)


@router.get(THANK_YOU_PATH)
async def thank_you(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    check = await service.check_thank_you(session, runtime.encryptor, request.query_params)
    return templates().TemplateResponse(
        request,
        "demo_thank_you.html",
        {
            "organization": check.organization,
            "brand_color": check.organization.brand_color if check.organization else None,
            "valid": check.valid,
            "fresh": check.fresh,
            "fields": check.fields,
        },
        status_code=200 if check.valid else 400,
    )
