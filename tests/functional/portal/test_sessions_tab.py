"""The Sessions tab: connection statuses with filters, a session's timeline, and the funnel."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.models import ConnectSession, User, UtilityAuthorization
from leap_connect.runtime import Runtime
from tests.functional.portal.conftest import PASSWORD, Portal, add_user
from tests.functional.portal.journey import finish_journey
from tests.support.factories import Partner, create_partner


async def test_sessions_are_listed_filtered_and_have_a_timeline(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await finish_journey(client, app)
    async with runtime.sessionmaker() as db:
        connect_session = (await db.execute(select(ConnectSession))).scalar_one()

    listed = await signed_in.open("/portal/sessions?reference=cust-123&status=COMPLETED")
    none = await signed_in.open("/portal/sessions?status=CLOSED")
    detail = await signed_in.open(f"/portal/sessions/{connect_session.id}")

    assert listed.document.xpath("//table//a/@href") == [f"/portal/sessions/{connect_session.id}"]
    assert "No sessions match" in none.text
    steps = [
        " ".join(item.xpath("./strong")[0].text_content().split())
        for item in detail.document.xpath("//ol[@class='timeline']/li")
    ]
    assert steps == ["Opened", "Utility chosen", "Authorized", "Completed"]


async def test_another_organizations_session_is_a_404_page(
    app: FastAPI, portal: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await finish_journey(client, app)
    async with runtime.sessionmaker() as db:
        connect_session = (await db.execute(select(ConnectSession))).scalar_one()
    other = await create_partner(runtime, name="other", flow_title="their-flow")
    await add_user(runtime, other, "someone@other.example", "member")
    await portal.sign_in("someone@other.example", PASSWORD)

    page = await portal.open(f"/portal/sessions/{connect_session.id}")
    listed = await portal.open("/portal/sessions")

    assert page.status == 404
    assert "No sessions match" in listed.text


async def test_a_member_opens_the_sessions_tab(portal: Portal, member: User) -> None:
    from tests.functional.portal.conftest import MEMBER_EMAIL

    await portal.sign_in(MEMBER_EMAIL)

    page = await portal.open("/portal/sessions")

    assert page.status == 200
    assert page.document.xpath("//*[@role='img'][contains(@class,'funnel-chart')]")


async def test_statuses_and_utilities_read_in_the_partners_words_with_the_code_at_hand(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient
) -> None:
    await finish_journey(client, app)

    page = await signed_in.open("/portal/sessions")

    [row] = page.document.xpath("//section[@aria-labelledby='sessions-heading']//tbody/tr")
    cells = row.xpath("./td")
    assert cells[2].text_content() == "Ca homes"
    [session_status] = cells[3].xpath(".//span[contains(@class,'status')]")
    assert (session_status.text_content(), session_status.get("title")) == (
        "Finished",
        "Code: COMPLETED",
    )
    assert " ".join(cells[4].text_content().split()) == "PG&E: Connected"
    options = page.document.xpath("//select[@id='status']/option/text()")
    assert options == [
        "Any",
        "In progress, at the utility",
        "In progress, back from a utility",
        "Finished",
        "Closed",
    ]


async def test_an_admin_revokes_a_customers_authorization_once_told_what_stops(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await finish_journey(client, app)
    async with runtime.sessionmaker() as db:
        connect_session = (await db.execute(select(ConnectSession))).scalar_one()
        authorization = (await db.execute(select(UtilityAuthorization))).scalar_one()
    session_path = f"/portal/sessions/{connect_session.id}"
    revoke_path = f"/portal/authorizations/{authorization.id}/revoke"

    detail = await signed_in.open(session_path)
    [panel] = detail.document.xpath("//details[@class='confirm']")
    assert "Revoke" in panel.xpath("./summary")[0].text_content()
    assert panel.xpath(f".//form[@action='{revoke_path}']//input[@name='confirmed']")

    # A form that came without the panel's confirmation asks again, naming what stops.
    asked = await signed_in.post(revoke_path, {}, csrf_from=session_path)
    assert asked.status == 200
    assert "Revoke this customer's authorization?" in asked.text
    assert "permission to share their meters' data with you ends, at PG&E" in asked.text
    async with runtime.sessionmaker() as db:
        unchanged = await db.get(UtilityAuthorization, authorization.id)
        assert unchanged is not None and unchanged.status == "COMPLETED"

    done = await signed_in.post(revoke_path, {"confirmed": "yes"}, csrf_from=session_path)
    assert done.status == 303
    assert done.response.headers["location"] == session_path
    async with runtime.sessionmaker() as db:
        revoked = await db.get(UtilityAuthorization, authorization.id)
        assert revoked is not None and revoked.status == "REVOKED"
    after = await signed_in.open(session_path)
    assert "Revoked" in after.text
    assert not after.document.xpath("//details[@class='confirm']")
