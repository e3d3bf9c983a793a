"""The demo partner's thank-you page: it checks the redirect's signature as a partner should."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leap_connect.demo.seed import DEMO_ORG, THANK_YOU_PATH
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.crypto import signature_ok
from leap_connect.kit.templating import templates
from leap_connect.organizations import repository

router = APIRouter(include_in_schema=False)

MAX_AGE_SECONDS = 600


@router.get(THANK_YOU_PATH)
async def thank_you(request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    params = request.query_params
    organization = await repository.get_organization_by_name(session, DEMO_ORG)
    fields = {key: params.get(key, "") for key in ("connect_session_id", "refId", "status", "ts")}
    valid = False
    fresh = False
    if organization is not None:
        secret = runtime.encryptor.decrypt(organization.redirect_signing_secret_encrypted)
        message = (
            f"{fields['connect_session_id']}.{fields['refId']}.{fields['status']}.{fields['ts']}"
        )
        valid = signature_ok(secret, message, params.get("signature", ""))
        fresh = fields["ts"].isdigit() and abs(time.time() - int(fields["ts"])) <= MAX_AGE_SECONDS
    return templates().TemplateResponse(
        request,
        "demo_thank_you.html",
        {
            "organization": organization,
            "brand_color": organization.brand_color if organization else None,
            "valid": valid,
            "fresh": fresh,
            "fields": fields,
        },
        status_code=200 if valid else 400,
    )
