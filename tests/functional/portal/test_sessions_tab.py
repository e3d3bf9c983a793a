"""The Sessions tab: connection statuses with filters, a session's timeline, and the funnel."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from leap_connect.models import ConnectSession, LinkOpenCount, User, utc_now
from leap_connect.runtime import Runtime
from tests.functional.portal.conftest import PASSWORD, Portal, add_user
from tests.functional.portal.journey import finish_journey
from tests.support.factories import Partner, create_partner


def funnel_counts(page_text_rows: list[list[str]]) -> dict[str, int]:
    return {label: int(count) for label, count, _ in page_text_rows}


async def test_funnel_counts_after_one_completed_journey(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await finish_journey(client, app)
    async with runtime.sessionmaker() as db, db.begin():
        db.add(
            LinkOpenCount(
                organization_id=partner.organization.id,
                flow_id=partner.flow.id,
                day=utc_now().date(),
                opens=3,
            )
        )

    page = await signed_in.open("/portal/sessions?flow=ca-homes")

    assert page.status == 200
    rows = [
        [cell.text_content().strip() for cell in row.xpath("./th|./td")]
        for row in page.document.xpath("//table[contains(@class,'funnel-counts')]/tbody/tr")
    ]
    assert funnel_counts(rows) == {
        "Links opened": 3,
        "Utility chosen": 1,
        "Authorized": 1,
        "Signed": 0,
        "Completed": 1,
    }
    bars = page.document.xpath("//svg//rect")
    assert [int(bar.get("width")) for bar in bars] == [400, 133, 133, 0, 133]
    assert 'style="' not in page.response.text.split("<main", 1)[1]


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
    assert page.document.xpath("//svg[@role='img']")
