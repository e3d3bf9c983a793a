"""Where a customer who starts at their utility's own site arrives: the flow's journey, for them.

PG&E calls it the "Third-Party Portal URI": a customer who picks the partner from PG&E's list of
Share My Data companies is sent there, and the journey must begin for PG&E. Each flow has one per
utility it offers, `/{partner}/{flow}/from/{utility_id}`, to register with that utility.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from leap_connect.connect import service
from leap_connect.connect.pages import LANDING_PATH
from leap_connect.deps import SessionDep

router = APIRouter(include_in_schema=False)


@router.get(LANDING_PATH + "/from/{utility_id}")
async def start_from_utility(
    session: SessionDep, org_name: str, url_friendly_title: str, utility_id: str
) -> RedirectResponse:
    """To the flow's landing page with the utility chosen; an unknown partner, flow or utility is
    the journey's friendly "not found" page."""
    url = await service.utility_start_url(
        session, org_name=org_name, url_friendly_title=url_friendly_title, utility_id=utility_id
    )
    return RedirectResponse(url, status_code=303)
